"""Forecasts that cite: forecast records and pools of several forecasters.

:mod:`riskmodel.forecast.records` ties a citation to a question, a horizon, a date and a forecaster;
:mod:`riskmodel.forecast.pool` pools several forecasters' prior sets. This layer sits above :mod:`riskmodel.results`:
it fits, cites and verifies through it.
"""
