"""What every trait measure is: its keys in params.yaml (a MeasureConfig with a `kind`), the files
it reads, and a scorer that gives each response a score in [0, 1] (1: the trait is there).

A trait rate is the mean score. Measures import their implementation (a model, a language
identifier, the user's function) inside `load`, so that loading params.yaml stays light; the
stages that use one list it as a component (workflow.stage_code) so its imports are code deps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import Params


class Scorer(Protocol):
    def __call__(self, responses: Sequence[str], prompts: Sequence[list[dict]]) -> np.ndarray:
        """One score in [0, 1] per response; `prompts[i]` are the chat messages response i answers."""


class MeasureConfig(Strict):
    """A measure's keys; each kind adds `kind: Literal["<its name>"]`, the union's discriminator."""

    def inputs(self, params: Params) -> list[str]:
        """The files it reads besides the responses (a model folder, the user's module)."""
        return []

    def models(self) -> list[str]:
        """The models it loads (a judge's): the pipeline builds them when they are its own."""
        return []

    def describe(self) -> dict:
        """What eval.json records about it: enough to know how a rate was scored."""
        return self.model_dump(exclude_defaults=True)

    def load(self, params: Params) -> Scorer:
        raise NotImplementedError


def per_response(fn) -> Scorer:
    """A scorer from a function of one response that returns a bool or a number in [0, 1]."""
    def score(responses: Sequence[str], prompts: Sequence[list[dict]]) -> np.ndarray:
        return np.array([float(fn(r)) for r in responses], dtype=np.float64)
    return score
