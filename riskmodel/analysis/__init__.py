"""Analyses of fitted results: sensitivity, model comparison, simulation-based calibration and parallel refits."""
