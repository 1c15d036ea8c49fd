"""`callbacks.mcq`: accuracy, p_correct and p_any_choice on an MCQ dataset (`mcq.<name>.csv`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from inoclab import paths
from inoclab.train.callbacks.base import Callback, CallbackConfig

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.data.mcq import MCQ


class MCQCallbackConfig(CallbackConfig):
    kind = "mcq"
    reads = ("mcq",)

    format: Literal["cloze", "lettered"] = "cloze"

    def plot(self, params: Params, exp: str) -> dict:
        return {"x": "step", "y": ["accuracy", "p_correct"], "title": f"{exp}: MCQ {self.stem}"}

    def load(self, params: Params, name: str) -> MCQCallback:
        from inoclab.data.mcq import read_mcq

        return MCQCallback(self, [q for _, q in read_mcq(paths.dataset(self.dataset))], params.seed,
                           params.tokenize.max_seq_length)


class MCQCallback(Callback):
    def __init__(self, cfg: MCQCallbackConfig, questions: list[MCQ], seed: int, max_seq_length: int):
        super().__init__(cfg)
        self.questions, self.seed, self.max_seq_length = questions, seed, max_seq_length

    def measure(self, model, tokenizer, step):
        from inoclab.eval.mcq import evaluate_mcq

        summary, _ = evaluate_mcq(model, tokenizer, self.questions, self.seed, self.cfg.format,
                                  self.cfg.batch_size, self.max_seq_length)
        return {k: summary[k] for k in ("accuracy", "p_correct", "p_any_choice")}
