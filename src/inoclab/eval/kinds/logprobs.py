"""`eval.logprobs`: per-block and per-token logprobs of tokenized conversations (eval/logprobs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.eval.kinds.base import PerDatasetEval
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds import EvalConfig


class LogprobsSettings(Strict):
    logprobs: list[str] = []  # dataset names (block-format conversations)


class LogprobsEval(PerDatasetEval):
    settings = LogprobsSettings
    section = "logprobs"
    reads = ("conversations", "preference")
    always = True

    def measure(self, params: Params, model, tokenizer, e: EvalConfig, dataset: str, details: Path) -> dict:
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

        rows = read_tokenized(paths.tokenized(params.model_slug, dataset))
        lps = token_logprobs(model, rows, tokenizer.pad_token_id, e.batch_size)
        blocks = block_logprobs(rows, lps)
        write_jsonl(details / f"logprobs.{dataset}.blocks.jsonl", blocks)
        pq.write_table(pa.Table.from_pylist(token_records(rows, lps, tokenizer)),
                       details / f"logprobs.{dataset}.tokens.parquet", compression="zstd")
        return summarize_blocks(blocks, params.bootstrap)
