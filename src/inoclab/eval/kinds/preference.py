"""`eval.preference`: the chosen-minus-rejected logprob margin of preference pairs (eval/preference.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.eval.kinds.base import PerDatasetEval
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds import EvalConfig


class PreferenceSettings(Strict):
    preference: list[str] = []  # preference datasets: chosen-minus-rejected margin before and after


class PreferenceEval(PerDatasetEval):
    settings = PreferenceSettings
    section = "preference"
    reads = ("preference",)

    def measure(self, params: Params, model, tokenizer, e: EvalConfig, dataset: str, details: Path) -> dict:
        from inoclab.eval.preference import preference_eval
        from inoclab.io import write_jsonl
        from inoclab.tokenize import read_tokenized

        rows = read_tokenized(paths.tokenized(params.model_slug, dataset))
        summary, records = preference_eval(model, rows, tokenizer.pad_token_id, params.bootstrap, e.batch_size)
        write_jsonl(details / f"preference.{dataset}.jsonl", records)
        return summary
