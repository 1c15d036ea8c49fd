"""`eval.logprobs`: per-block and per-token logprobs of tokenized conversations (eval/logprobs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class LogprobsSettings(Strict):
    logprobs: list[str] = []  # dataset names (block-format conversations)


class LogprobsEval(EvalKind):
    settings = LogprobsSettings
    section = "logprobs"

    def configured(self, e: EvalConfig) -> bool:
        return True  # eval.json always has the section, {} when no dataset is named

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [("logprobs", d) for d in e.logprobs]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        for d in exp.eval.logprobs:
            require(params, f"{key}.eval.logprobs", d, "a conversations dataset (it is MCQ: use eval.mcq)",
                    not params.is_mcq(d))

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.tokenized(params.model_slug, d)) for d in e.logprobs]

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from inoclab.eval.logprobs import (
            block_logprobs,
            summarize_blocks,
            token_logprobs,
            token_records,
        )
        from inoclab.io import write_jsonl
        from inoclab.tokenize import read_tokenized

        out = {}
        for ds in e.logprobs:
            rows = read_tokenized(paths.tokenized(params.model_slug, ds))
            lps = token_logprobs(model, rows, tokenizer.pad_token_id, e.batch_size)
            blocks = block_logprobs(rows, lps)
            out[ds] = summarize_blocks(blocks)
            write_jsonl(details / f"logprobs.{ds}.blocks.jsonl", blocks)
            pq.write_table(pa.Table.from_pylist(token_records(rows, lps, tokenizer)),
                           details / f"logprobs.{ds}.tokens.parquet", compression="zstd")
        return out
