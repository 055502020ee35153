"""Context features: their vocabularies, and how a context enters a system's training-gaming pattern.

A *context* is what the context layer sees about an episode: whether training pushes against the system's current
values, how (and whether) the system learns about its training, its scratchpad, whether the prompt spells out the
prerequisites for strategic reasoning, and the system's stage (before or after extra RL on the conflicting
objective). Reference coding (reference: no value conflict, training information in the prompt, visible scratchpad,
prerequisites left implicit, before extra RL) avoids the intercept/level ridge that full dummy coding creates.

Each system has its own *pattern*: an intercept and one effect per :data:`PATTERN_EFFECTS` column, drawn from a
population distribution (``docs/model.md``). The stage is a state of a system, not a context the system reacts to,
and its effect is shared (:data:`SHARED_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "COORDINATES",
    "DESIGN_COLUMNS",
    "PATTERN_EFFECTS",
    "SHARED_COLUMNS",
    "VOCABULARY",
    "Context",
    "design_matrix",
    "pattern_matrix",
]

VOCABULARY: dict[str, tuple[str, ...]] = {
    "value_conflict": ("yes", "no"),
    "training_info": ("prompted", "documents", "none"),
    "scratchpad": ("yes", "no", "hidden"),
    "prerequisites": ("implicit", "spelled-out"),
    "stage": ("pre-rl", "after-rl"),
}

#: Per-system effects (random slopes) in the order of the pattern's coordinates after the intercept.
PATTERN_EFFECTS: tuple[str, ...] = (
    "value_conflict",
    "documents",
    "no_training_info",
    "no_scratchpad",
    "hidden_scratchpad",
    "prerequisites",
)
#: Coordinates of a system's pattern: its log-odds in the reference context, then one effect per column above.
COORDINATES: tuple[str, ...] = ("intercept", *PATTERN_EFFECTS)
#: Effects shared by every system (a later state of the same system, not a feature of the context).
SHARED_COLUMNS: tuple[str, ...] = ("after_rl",)
#: Every column of a context's design row: the pattern coordinates (intercept included), then the shared columns.
DESIGN_COLUMNS: tuple[str, ...] = (*COORDINATES, *SHARED_COLUMNS)


@dataclass(frozen=True)
class Context:
    """The features of one context (an evaluation condition, or a deployment-critical situation)."""

    value_conflict: str
    training_info: str
    scratchpad: str
    stage: str = "pre-rl"
    name: str = ""
    prerequisites: str = "implicit"

    def check(self) -> None:
        """Raise ``ValueError`` naming the feature when a value is outside its vocabulary (never a silent default)."""
        for feat in VOCABULARY:
            v = getattr(self, feat)
            if v not in VOCABULARY[feat]:
                raise ValueError(f"{feat} must be one of {', '.join(VOCABULARY[feat])}, got {v!r}")

    def pattern_row(self) -> np.ndarray:
        """Reference-coded indicators of the pattern coordinates (the intercept's is 1)."""
        self.check()
        return np.array(
            [
                1.0,
                self.value_conflict == "yes",
                self.training_info == "documents",
                self.training_info == "none",
                self.scratchpad == "no",
                self.scratchpad == "hidden",
                self.prerequisites == "spelled-out",
            ],
            dtype=float,
        )

    def shared_row(self) -> np.ndarray:
        """Indicators of the shared columns."""
        return np.array([self.stage == "after-rl"], dtype=float)

    def design_row(self) -> np.ndarray:
        """Every column of :data:`DESIGN_COLUMNS`."""
        return np.concatenate([self.pattern_row(), self.shared_row()])

    def label(self) -> str:
        """Short human-readable description, used as a coordinate label when the context has no name."""
        if self.name:
            return self.name
        parts = [
            "conflict" if self.value_conflict == "yes" else "no-conflict",
            f"info:{self.training_info}",
            f"scratchpad:{self.scratchpad}",
        ]
        if self.prerequisites != "implicit":
            parts.append(f"prerequisites:{self.prerequisites}")
        if self.stage != "pre-rl":
            parts.append(self.stage)
        return ",".join(parts)


def design_matrix(contexts: list[Context]) -> np.ndarray:
    """Stack the design rows of ``contexts`` into a (context, :data:`DESIGN_COLUMNS`) matrix."""
    if not contexts:
        return np.zeros((0, len(DESIGN_COLUMNS)))
    return np.stack([c.design_row() for c in contexts])


def pattern_matrix(contexts: list[Context]) -> np.ndarray:
    """Stack the pattern rows of ``contexts`` into a (context, :data:`COORDINATES`) matrix."""
    if not contexts:
        return np.zeros((0, len(COORDINATES)))
    return np.stack([c.pattern_row() for c in contexts])
