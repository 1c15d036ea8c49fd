"""Teacher-forced logprobs: per token, then per block (sum, mean, token count).

One decoder pass per batch, the LM head only at the block tokens that are read (models/head.py);
per-token logprobs come from a single cross-entropy call and are summed into blocks with a
scatter-add, so nothing loops over tokens in Python.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from inoclab.models.collator import WeightedCollator
from inoclab.models.head import hidden_at, next_token_positions, target_logprobs
from inoclab.stats import BootstrapConfig, with_intervals
from inoclab.tokenize import tokenize_conversations


@torch.no_grad()
def token_logprobs(model, rows: list[dict], pad_token_id: int, batch_size: int = 32) -> list[np.ndarray]:
    """For each row, logprob of token t given tokens < t at the tokens of its blocks (t ≥ 1);
    NaN at template tokens, which nothing reads, and at entry 0."""
    collate = WeightedCollator(pad_token_id)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    out: list[np.ndarray | None] = [None] * len(rows)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = collate([rows[i] for i in idx])
        ids = batch["input_ids"].to(device)
        scored = torch.zeros(ids.shape, dtype=torch.bool)  # scored[j, t]: token t is in a block, t ≥ 1
        for j, i in enumerate(idx):
            scored[j, 1:len(rows[i]["block_index"])] = torch.from_numpy(rows[i]["block_index"][1:] >= 0)
        lp = torch.full(ids.shape, float("nan"), dtype=torch.float64)
        if bool(scored.any()):
            predicts = next_token_positions(scored)  # position t - 1 predicts token t
            hidden = hidden_at(model, ids, batch["attention_mask"].to(device), predicts.to(device))
            lp[scored] = target_logprobs(model, hidden, ids[scored.to(device)]).double().cpu()
        for j, i in enumerate(idx):
            out[i] = lp[j, : len(rows[i]["input_ids"])].numpy()
    model.train(was_training)
    return out  # type: ignore[return-value]


def block_logprobs(rows: list[dict], token_lps: list[np.ndarray]) -> list[dict]:
    """One record per block of every row: sum, mean and count of its tokens' logprobs."""
    out = []
    for ex, (row, lp) in enumerate(zip(rows, token_lps, strict=True)):
        bi = row["block_index"]
        n_blocks = len(row["blocks"])
        valid = (bi >= 0) & ~np.isnan(lp)
        sums = np.bincount(bi[valid], weights=lp[valid], minlength=n_blocks)
        counts = np.bincount(bi[valid], minlength=n_blocks)
        for b, info in enumerate(row["blocks"]):
            c = int(counts[b])
            out.append({
                "example": ex, "line": row.get("line"), "block": b, "message": info["message"],
                "role": info["role"], "tag": info.get("tag"), "weight": info["weight"],
                "text": info["text"], "n_tokens": c, "logprob_sum": float(sums[b]),
                "logprob_mean": float(sums[b] / c) if c else None,
            })
    return out


def token_records(rows: list[dict], token_lps: list[np.ndarray], tokenizer) -> list[dict]:
    """Per-token detail (for the side file): block tokens only, template tokens left out."""
    out = []
    for ex, (row, lp) in enumerate(zip(rows, token_lps, strict=True)):
        for t in np.nonzero(row["block_index"] >= 0)[0]:
            tid = int(row["input_ids"][t])
            out.append({"example": ex, "block": int(row["block_index"][t]), "position": int(t),
                        "token_id": tid, "token": tokenizer.convert_ids_to_tokens(tid),
                        "logprob": None if np.isnan(lp[t]) else float(lp[t])})
    return out


def summarize_blocks(blocks: list[dict], boot: BootstrapConfig | None = None, roles=("assistant",)) -> dict:
    """Mean block logprob sum/mean per tag (untagged blocks grouped as `untagged`), with intervals
    over the blocks when `boot` is given."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in blocks:
        if b["role"] in roles and b["n_tokens"]:
            groups[b["tag"] or "untagged"].append(b)
    out = {}
    for tag, bs in sorted(groups.items()):
        cols = {k: [b[k] for b in bs] for k in ("logprob_sum", "logprob_mean")}
        out[tag] = with_intervals({}, cols, boot) if boot else {k: float(np.mean(v)) for k, v in cols.items()}
        out[tag].pop("n", None)
        out[tag]["n_blocks"] = len(bs)
        out[tag]["n_tokens"] = float(np.mean([b["n_tokens"] for b in bs]))
    return out


def assistant_logprob_sums(model, tokenizer, conversations: list, max_seq_length: int,
                           batch_size: int = 32) -> np.ndarray:
    """Σ logprob of the assistant blocks of each conversation (normalized messages): all
    tokenized in one call and scored in one pass."""
    rows, _ = tokenize_conversations(tokenizer, conversations, max_seq_length)
    return assistant_sums(model, rows, tokenizer.pad_token_id, batch_size)


def assistant_sums(model, rows: list[dict], pad_token_id: int, batch_size: int = 32) -> np.ndarray:
    """Σ logprob of the assistant blocks of each tokenized row, scored in one pass."""
    sums = np.zeros(len(rows))
    for b in block_logprobs(rows, token_logprobs(model, rows, pad_token_id, batch_size)):
        if b["role"] == "assistant":
            sums[b["example"]] += b["logprob_sum"]
    return sums
