"""Batches of tokenized rows: right padding, weights padded with 0, an explicit attention mask.

Padding is recognised by position (the mask), never by token id, so a tokenizer whose pad
token equals its EOS keeps the EOS weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class WeightedCollator:
    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        n = max(len(r["input_ids"]) for r in rows)
        if self.pad_to_multiple_of:
            n = -(-n // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = np.full((len(rows), n), self.pad_token_id, dtype=np.int64)
        weights = np.zeros((len(rows), n), dtype=np.float32)
        mask = np.zeros((len(rows), n), dtype=np.int64)
        for i, r in enumerate(rows):
            k = len(r["input_ids"])
            ids[i, :k] = r["input_ids"]
            weights[i, :k] = r["weights"]
            mask[i, :k] = 1
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "weights": torch.from_numpy(weights),
        }
