"""`eval.preference`: the chosen-minus-rejected logprob margin of preference pairs (eval/preference.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class PreferenceSettings(Strict):
    preference: list[str] = []  # preference datasets: chosen-minus-rejected margin before and after


class PreferenceEval(EvalKind):
    settings = PreferenceSettings
    section = "preference"

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [("preference", d) for d in e.preference]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        for d in exp.eval.preference:
            require(params, f"{key}.eval.preference", d, "a dataset with builder preference", params.is_preference(d))

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.tokenized(params.model_slug, d)) for d in e.preference]

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.eval.preference import preference_eval
        from inoclab.io import write_jsonl
        from inoclab.tokenize import read_tokenized

        out = {}
        for ds in e.preference:
            rows = read_tokenized(paths.tokenized(params.model_slug, ds))
            out[ds], records = preference_eval(model, rows, tokenizer.pad_token_id, e.batch_size)
            write_jsonl(details / f"preference.{ds}.jsonl", records)
        return out
