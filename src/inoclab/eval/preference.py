"""Preference margins on held-out pairs: Σ logprob of the chosen response minus the rejected one.

The tokenized preference dataset holds two rows per pair (prompt + chosen, prompt + rejected,
each response one tagged block); both are scored in one batched pass. With a LoRA model the
same is measured with the adapter disabled, i.e. on the base model, which is DPO's reference:
the eval reports how far training moved the margin.
"""

from __future__ import annotations

import numpy as np

from inoclab.eval.logprobs import assistant_sums
from inoclab.stats import BootstrapConfig, with_intervals


def pair_margins(model, rows: list[dict], pad_token_id: int, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(chosen, rejected) Σ logprob per pair, from rows in the order chosen, rejected, ..."""
    if [r["blocks"][-1].get("tag") for r in rows] != ["chosen", "rejected"] * (len(rows) // 2) or len(rows) % 2:
        raise ValueError("expected tokenized preference rows: chosen, rejected, chosen, ...")
    sums = assistant_sums(model, rows, pad_token_id, batch_size)
    return sums[0::2], sums[1::2]


def summarize(chosen: np.ndarray, rejected: np.ndarray, boot: BootstrapConfig) -> dict:
    """Means over pairs with their intervals; accuracy: the share of pairs with a positive margin."""
    margin = chosen - rejected
    out = with_intervals({}, {"chosen": chosen, "rejected": rejected, "margin": margin, "accuracy": margin > 0}, boot)
    del out["n"]  # n_pairs, once for before and after
    return out


def preference_eval(model, rows: list[dict], pad_token_id: int, boot: BootstrapConfig,
                    batch_size: int = 32) -> tuple[dict, list[dict]]:
    """Summary (after training, and before it where the model has an adapter) and per-pair detail."""
    chosen, rejected = pair_margins(model, rows, pad_token_id, batch_size)
    result = {"n_pairs": len(chosen), "after": summarize(chosen, rejected, boot)}
    details = [{"line": rows[2 * i]["line"], "chosen": float(c), "rejected": float(r), "margin": float(c - r)}
               for i, (c, r) in enumerate(zip(chosen, rejected, strict=True))]
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            c0, r0 = pair_margins(model, rows, pad_token_id, batch_size)
        result["before"] = summarize(c0, r0, boot)
        change = with_intervals({}, {"margin_change": (chosen - rejected) - (c0 - r0)}, boot)
        result["margin_change"], result["margin_change_ci"] = change["margin_change"], change["margin_change_ci"]
        for d, c, r in zip(details, c0, r0, strict=True):
            d["margin_before"] = float(c - r)
    return result, details
