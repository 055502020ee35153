"""Versioned, validated input files: the registry, prior sets, evidence sets, context features and prior families.

The bottom layer: nothing here imports the model, results or any interface.
"""
