"""One exception hierarchy for everything a user can get wrong.

The CLI maps every :class:`RiskmodelError` to exit code 2 and a single line; any other exception is an internal bug
and exits 1 with its traceback, so the two cannot be confused.
"""

from __future__ import annotations

__all__ = [
    "CitationError",
    "EvidenceError",
    "FitError",
    "InputError",
    "PriorError",
    "RegistryError",
    "RiskmodelError",
]


class RiskmodelError(Exception):
    """A problem with the user's input or files, reported as one line naming file, field and reason."""

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.field = field
        super().__init__(self.line())

    def line(self) -> str:
        """Return the one-line message: ``file: field: reason`` with the parts that are known."""
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join([*parts, self.reason]).replace("\n", " ")


class InputError(RiskmodelError):
    """A command-line argument or API argument that cannot be used."""


class RegistryError(RiskmodelError):
    """A versioned file that is unknown, already released, or whose bytes differ from its registered hash."""


class PriorError(RiskmodelError):
    """A prior file that is malformed or names an invalid distribution or parameter."""


class EvidenceError(RiskmodelError):
    """An evidence file that is malformed or holds impossible counts or unknown feature values."""


class CitationError(RiskmodelError):
    """A citation line that cannot be parsed or does not name released files."""


class FitError(RiskmodelError):
    """The sampler failed on valid input (reported to the user, never averaged into a forecast)."""
