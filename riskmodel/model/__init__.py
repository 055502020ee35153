"""The model: its specification from the files, PyMC graph, numpy prior draws, sampling and worst-case arithmetic.

Only ``graph`` and ``sampling`` import PyMC; reading a stored answer never needs them.
"""
