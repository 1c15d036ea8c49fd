"""The strict base model and the value types every component's params model uses."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
# names of datasets, experiments, families and callback files: DVC splits parameter paths on '.'
NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class Strict(BaseModel):
    """Unknown keys are errors (a misspelt key must not silently keep its default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamsError(ValueError):
    """A cross-field rule broken at `key` (a dotted path), raised inside validation so that
    load_params can name the line that sets the key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


def _pool(value: Any) -> Any:
    if isinstance(value, list) and (not value or len(set(value)) != len(value) or not all(value)):
        raise ValueError("a pool of prompts must be a non-empty list of distinct, non-empty prompts")
    return value


# one prompt, or a pool of paraphrases of which each example draws one (data/paired.py: draw)
PromptPool = Annotated[str | list[str], AfterValidator(_pool)]


def pool_of(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _every(value: Any) -> Any:
    if value == "log" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError(f"expected a positive number of steps, or log (got {value!r})")


# how often a measurement during training fires: every N steps, or log-spaced (1, 2, 4, ...)
Every = Annotated[int | Literal["log"], BeforeValidator(_every)]
