"""The ``riskmodel`` command line (argument parsing and printing only; every number comes from the library)."""

from riskmodel.cli.main import main

__all__ = ["main"]
