"""The `callbacks:` section of an experiment: measurements taken during training."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from inoclab.params.base import Every, PositiveInt, Strict


class CallbackConfig(Strict):
    """A measurement taken during training, without gradients, at step 0 (before the first
    update), at the steps of `every` and at the last step. `every: N` fires at N, 2N, ...;
    `every: log` at 1, 2, 4, 8, ... (log-spaced: dense early, where behaviours appear)."""

    dataset: str
    name: str | None = None  # the output file's name; default: the dataset's
    every: Every = "log"
    batch_size: PositiveInt = 32

    @property
    def stem(self) -> str:
        return self.name or self.dataset


class LogprobCallbackConfig(CallbackConfig):
    """Block logprobs of a tokenized dataset: one curve per block tag (untagged blocks: `untagged`)."""


class MCQCallbackConfig(CallbackConfig):
    """MCQ accuracy, p_correct and p_any_choice of an MCQ dataset."""

    format: Literal["cloze", "lettered"] = "cloze"


class SamplingCallbackConfig(CallbackConfig):
    """Responses to a dataset's prompts (conversations or preference pairs)."""

    n_prompts: PositiveInt | None = None  # the first n prompts of the file; None: all
    temperature: Annotated[float, Field(ge=0)] = 0.0  # 0: greedy
    max_new_tokens: PositiveInt = 32
    # the assistant's response starts with this text; it is not counted in the completion
    prefill: str | None = None
    rule: Literal["spanish", "capitals"] | None = None  # also plot the share of completions with this trait
    batch_size: PositiveInt = 64


class CallbacksConfig(Strict):
    logprobs: list[LogprobCallbackConfig] = []
    mcq: list[MCQCallbackConfig] = []
    sampling: list[SamplingCallbackConfig] = []

    def all(self) -> list[tuple[str, CallbackConfig]]:
        return [(kind, c) for kind in ("logprobs", "mcq", "sampling") for c in getattr(self, kind)]

    @property
    def any(self) -> bool:
        return bool(self.logprobs or self.mcq or self.sampling)
