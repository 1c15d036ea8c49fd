"""`eval.mcq`: accuracy and answer probabilities on multiple-choice questions (eval/mcq.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from inoclab import paths
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class MCQSettings(Strict):
    mcq: list[str] = []  # dataset names (MCQ files)
    mcq_format: Literal["cloze", "lettered"] = "cloze"


class MCQEval(EvalKind):
    settings = MCQSettings
    section = "mcq"

    def configured(self, e: EvalConfig) -> bool:
        return True  # eval.json always has the section, {} when no dataset is named

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [("mcq", d) for d in e.mcq]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        for d in exp.eval.mcq:
            require(params, f"{key}.eval.mcq", d, "an MCQ dataset", params.is_mcq(d))

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.dataset(d)) for d in e.mcq]

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.data.mcq import read_mcq
        from inoclab.eval.mcq import evaluate_mcq
        from inoclab.io import write_jsonl

        out = {}
        for ds in e.mcq:
            questions = [q for _, q in read_mcq(paths.dataset(ds))]
            out[ds], detail = evaluate_mcq(model, tokenizer, questions, params.seed, e.mcq_format, e.batch_size,
                                           params.tokenize.max_seq_length)
            write_jsonl(details / f"mcq.{ds}.jsonl", detail)
        return out
