"""The `callbacks:` section of an experiment: measurements taken during training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from inoclab import paths
from inoclab.params.base import Every, PositiveInt, Strict

if TYPE_CHECKING:
    from inoclab.config import Params


class CallbackConfig(Strict):
    """A measurement taken during training, without gradients, at step 0 (before the first
    update), at the steps of `every` and at the last step. `every: N` fires at N, 2N, ...;
    `every: log` at 1, 2, 4, 8, ... (log-spaced: dense early, where behaviours appear)."""

    dataset: str
    name: str | None = None  # the output file's name; default: the dataset's
    every: Every = "log"
    batch_size: PositiveInt = 32

    kind: ClassVar[str]  # its key under `callbacks:`, and the prefix of its files
    reads: ClassVar[tuple[str, ...]] = ("conversations",)  # the dataset kinds it reads
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)  # the files it writes: the step-indexed CSV first

    @property
    def stem(self) -> str:
        return self.name or self.dataset

    def files(self) -> list[str]:
        """Its file names inside results/<experiment>/callbacks/."""
        return [f"{self.kind}.{self.stem}{suffix}" for suffix in self.suffixes]

    def inputs(self, params: Params) -> list[str]:
        """The files it reads: the dataset as JSONL (tokenized for logprobs)."""
        return [str(paths.dataset(self.dataset))]

    def plot(self, params: Params, exp: str) -> dict:
        """`dvc plots show` properties of its CSV."""
        raise NotImplementedError


class LogprobCallbackConfig(CallbackConfig):
    """Block logprobs of a tokenized dataset: one curve per block tag (untagged blocks: `untagged`)."""

    kind = "logprobs"
    reads = ("conversations", "preference")

    def inputs(self, params: Params) -> list[str]:
        return [str(paths.tokenized(params.model_slug, self.dataset))]

    def plot(self, params: Params, exp: str) -> dict:
        return {"x": "step", "y": params.datasets[self.dataset].tags(),
                "y_label": "mean block logprob (sum over tokens)", "title": f"{exp}: logprobs of {self.stem} per tag"}


class MCQCallbackConfig(CallbackConfig):
    """MCQ accuracy, p_correct and p_any_choice of an MCQ dataset."""

    kind = "mcq"
    reads = ("mcq",)

    def plot(self, params: Params, exp: str) -> dict:
        return {"x": "step", "y": ["accuracy", "p_correct"], "title": f"{exp}: MCQ {self.stem}"}

    format: Literal["cloze", "lettered"] = "cloze"


class SamplingCallbackConfig(CallbackConfig):
    """Responses to a dataset's prompts (conversations or preference pairs)."""

    kind = "sampling"
    reads = ("conversations", "preference")
    suffixes = (".csv", ".jsonl")  # the rates per step, and every completion

    n_prompts: PositiveInt | None = None  # the first n prompts of the file; None: all
    temperature: Annotated[float, Field(ge=0)] = 0.0  # 0: greedy
    max_new_tokens: PositiveInt = 32
    # the assistant's response starts with this text; it is not counted in the completion
    prefill: str | None = None
    rule: Literal["spanish", "capitals"] | None = None  # also plot the share of completions with this trait
    batch_size: PositiveInt = 64

    def plot(self, params: Params, exp: str) -> dict:
        what = f" ({self.rule} rate)" if self.rule else " (mean length)"
        return {"x": "step", "y": ["trait_rate"] if self.rule else ["mean_chars"],
                "title": f"{exp}: samples of {self.stem}{what}"}


class CallbacksConfig(Strict):
    logprobs: list[LogprobCallbackConfig] = []
    mcq: list[MCQCallbackConfig] = []
    sampling: list[SamplingCallbackConfig] = []

    def all(self) -> list[CallbackConfig]:
        return [c for kind in type(self).model_fields for c in getattr(self, kind)]

