"""`callbacks.sampling`: responses to a dataset's prompts (conversations or preference pairs):
`sampling.<name>.jsonl` holds one record per step and prompt (prompt, prefill, completion), and
`sampling.<name>.csv` the step, mean completion length in characters, and the trait rate when
the callback names a `measure` (any of measures/)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from inoclab import paths
from inoclab.io import InputError
from inoclab.measures import Measure, Scorer
from inoclab.params.base import PositiveInt
from inoclab.train.callbacks.base import Callback, CallbackConfig

if TYPE_CHECKING:
    from inoclab.config import Params


class SamplingCallbackConfig(CallbackConfig):
    kind = "sampling"
    reads = ("conversations", "preference")
    suffixes = (".csv", ".jsonl")  # the rates per step, and every completion

    n_prompts: PositiveInt | None = None  # the first n prompts of the file; None: all
    temperature: Annotated[float, Field(ge=0)] = 0.0  # 0: greedy
    max_new_tokens: PositiveInt = 32
    # the assistant's response starts with this text; it is not counted in the completion
    prefill: str | None = None
    measure: Measure | None = None  # also plot the trait rate of the completions by this measure
    batch_size: PositiveInt = 64

    def plot(self, params: Params, exp: str) -> dict:
        what = f" ({self.measure.kind} rate)" if self.measure else " (mean length)"
        return {"x": "step", "y": ["trait_rate"] if self.measure else ["mean_chars"],
                "title": f"{exp}: samples of {self.stem}{what}"}

    def inputs(self, params: Params) -> list[str]:
        return super().inputs(params) + (self.measure.inputs(params) if self.measure else [])

    def components(self) -> list:
        return [self.measure] if self.measure else []

    def load(self, params: Params, name: str) -> SamplingCallback:
        from inoclab.data.conversations import read_conversations
        from inoclab.data.preference import read_preference
        from inoclab.eval.inoculation import prompt_messages

        path = paths.dataset(self.dataset)
        if params.is_preference(self.dataset):
            prompts = [p.prompt_messages() for _, p in read_preference(path)]
        else:
            prompts = [prompt_messages(conv) for _, conv in read_conversations(path)]
        if self.n_prompts is not None and self.n_prompts > len(prompts):
            raise InputError(f"params.yaml: {params.declared_key(name)}.callbacks.sampling ({self.stem}): "
                             f"n_prompts={self.n_prompts}, but {path} has {len(prompts)} prompts")
        return SamplingCallback(self, prompts[: self.n_prompts], params.experiment_training(name).seed,
                                self.measure.load(params) if self.measure else None)


class SamplingCallback(Callback):
    def __init__(self, cfg: SamplingCallbackConfig, prompts: list[list[dict]], seed: int,
                 scorer: Scorer | None = None):
        super().__init__(cfg)
        self.prompts, self.seed, self.scorer = prompts, seed, scorer
        self.samples: list[dict] = []

    def measure(self, model, tokenizer, step):
        import numpy as np

        from inoclab.models.generate import generate

        c = self.cfg
        completions = generate(model, tokenizer, self.prompts, c.max_new_tokens, c.batch_size,
                               temperature=c.temperature, seed=self.seed + step, prefill=c.prefill)
        self.samples += [{"step": step, "prompt_index": i, "prompt": p, "prefill": c.prefill, "completion": text}
                         for i, (p, text) in enumerate(zip(self.prompts, completions, strict=True))]
        row = {"n": len(completions), "mean_chars": float(np.mean([len(t) for t in completions]))}
        if self.scorer is not None:
            row["trait_rate"] = float(np.mean(self.scorer([(c.prefill or "") + t for t in completions], self.prompts)))
        return row

    def files(self):
        return {**super().files(), self.cfg.files()[1]: self.samples}

    def resume_state(self) -> dict:
        return {**super().resume_state(), "samples": self.samples}

    def restore(self, state: dict) -> None:
        super().restore(state)
        self.samples = state["samples"]
