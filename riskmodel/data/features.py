"""Context features: their vocabularies and the reference-coded design row of a context.

A *context* is what the context layer sees about an episode: whether training pushes against the system's current
values, how (and whether) the system learns about its training, its scratchpad, and whether the system has been through
extra RL training on the conflicting objective. Reference coding (reference: no value conflict, training information
in the prompt, visible scratchpad, before extra RL) avoids the intercept/level ridge that full dummy coding creates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DESIGN_COLUMNS",
    "SHARED_EFFECTS",
    "VOCABULARY",
    "Context",
    "design_matrix",
]

VOCABULARY: dict[str, tuple[str, ...]] = {
    "value_conflict": ("yes", "no"),
    "training_info": ("prompted", "documents", "none"),
    "scratchpad": ("yes", "no", "hidden"),
    "stage": ("pre-rl", "after-rl"),
}

#: Columns of the design matrix, in order. ``value_conflict`` has a disposition-specific coefficient; the others are
#: shared by both dispositions and named by :data:`SHARED_EFFECTS`.
DESIGN_COLUMNS: tuple[str, ...] = (
    "value_conflict",
    "documents",
    "no_training_info",
    "no_scratchpad",
    "hidden_scratchpad",
    "after_rl",
)

#: Prior-file parameter of each shared design column.
SHARED_EFFECTS: dict[str, str] = {
    "documents": "documents_effect",
    "no_training_info": "no_training_info_effect",
    "no_scratchpad": "no_scratchpad_effect",
    "hidden_scratchpad": "hidden_scratchpad_effect",
    "after_rl": "after_rl_effect",
}


@dataclass(frozen=True)
class Context:
    """The features of one context (an evaluation condition, or a deployment-critical situation)."""

    value_conflict: str
    training_info: str
    scratchpad: str
    stage: str = "pre-rl"
    name: str = ""

    def design_row(self) -> np.ndarray:
        """Reference-coded indicators, one per :data:`DESIGN_COLUMNS` entry."""
        return np.array(
            [
                self.value_conflict == "yes",
                self.training_info == "documents",
                self.training_info == "none",
                self.scratchpad == "no",
                self.scratchpad == "hidden",
                self.stage == "after-rl",
            ],
            dtype=float,
        )

    def label(self) -> str:
        """Short human-readable description, used as a coordinate label when the context has no name."""
        if self.name:
            return self.name
        parts = [
            "conflict" if self.value_conflict == "yes" else "no-conflict",
            f"info:{self.training_info}",
            f"scratchpad:{self.scratchpad}",
        ]
        if self.stage != "pre-rl":
            parts.append(self.stage)
        return ",".join(parts)


def design_matrix(contexts: list[Context]) -> np.ndarray:
    """Stack the design rows of ``contexts`` into a (context, column) matrix."""
    if not contexts:
        return np.zeros((0, len(DESIGN_COLUMNS)))
    return np.stack([c.design_row() for c in contexts])
