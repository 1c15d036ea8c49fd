"""`eval.mcq`: accuracy and answer probabilities on multiple-choice questions (eval/mcq.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from inoclab import paths
from inoclab.eval.kinds.base import PerDatasetEval
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds import EvalConfig


class MCQSettings(Strict):
    mcq: list[str] = []  # dataset names (MCQ files)
    mcq_format: Literal["cloze", "lettered"] = "cloze"


class MCQEval(PerDatasetEval):
    settings = MCQSettings
    section = "mcq"
    reads = ("mcq",)
    tokenized = False
    always = True

    def measure(self, params: Params, model, tokenizer, e: EvalConfig, dataset: str, details: Path) -> dict:
        from inoclab.data.mcq import read_mcq
        from inoclab.eval.mcq import evaluate_mcq
        from inoclab.io import write_jsonl
        from inoclab.stats import with_intervals

        questions = [q for _, q in read_mcq(paths.dataset(dataset))]
        summary, detail = evaluate_mcq(model, tokenizer, questions, params.seed, e.mcq_format, e.batch_size,
                                       params.tokenize.max_seq_length)
        write_jsonl(details / f"mcq.{dataset}.jsonl", detail)
        return with_intervals(summary, {"accuracy": [d["predicted"] == d["correct"] for d in detail],
                                        "p_correct": [d["p_correct"] for d in detail],
                                        "p_any_choice": [d["p_any_choice"] for d in detail]}, params.bootstrap)
