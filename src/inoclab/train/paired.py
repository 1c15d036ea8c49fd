"""Paired logit manipulation (seed 000): mix the logits of the inoculated and non-inoculated
copies of each example, to separate the "surprise" and "cognitive saliency" hypotheses.

A batch holds pairs: row 2k is an example without the inoculation prompt, row 2k+1 the same
example with it. Their response tokens sit at different positions (the prompts differ in
length), so they are aligned by their positions in the tokenized data: the k-th weighted
token of one member is the k-th weighted token of the other.

With α = `manipulation_mix_ratio`, no = logits without inoculation, inoc = logits with it:
- BiasNoInocTo_InocLogits: new = α·sg(inoc) + no − α·sg(no); gradients flow through `no` only.
- BiasInocTo_NoInocLogits: new = α·sg(no) + inoc − α·sg(inoc); gradients flow through `inoc` only.
The detached side runs under `torch.no_grad`, so it builds no graph; both apply the LM head at
the aligned response positions only, a chunk at a time (models/head.py).
"""

from __future__ import annotations

import numpy as np
import torch

from inoclab.io import InputError
from inoclab.models.head import hidden_at, next_token_positions, weighted_head_ce
from inoclab.train.loss import abs_weight_sum, normalise, weighted_sft_loss

# which member of each pair the gradient flows through: without (`no`) or with (`inoc`) the prompt
GRAD_SIDE = {"BiasNoInocTo_InocLogits": "no", "BiasInocTo_NoInocLogits": "inoc"}


def response_positions(weights: torch.Tensor) -> list[torch.Tensor]:
    """Per row, the positions t (in next-token terms: logits[t] predicts token t+1) whose target
    carries a weight."""
    return [torch.nonzero(w[1:] != 0).flatten() for w in weights]


def paired_targets(input_ids: torch.Tensor, weights: torch.Tensor, grad_rows: list[int],
                   other_rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The targets and weights of the pairs' weighted tokens (taken from the grad side), in
    row-major order. Raises if a pair's weighted tokens differ: the assistant messages must be
    identical."""
    pos = response_positions(weights)
    targets, ws = [], []
    for g, o in zip(grad_rows, other_rows, strict=True):
        tg, to = input_ids[g, pos[g] + 1], input_ids[o, pos[o] + 1]
        if tg.shape != to.shape or not torch.equal(tg, to):
            raise ValueError(f"rows {min(g, o)} and {max(g, o)} of the batch are not a pair: their weighted "
                             "(assistant) tokens differ")
        targets.append(tg)
        ws.append(weights[g, pos[g] + 1])
    return torch.cat(targets), torch.cat(ws)


def paired_loss(model, batch: dict[str, torch.Tensor], manipulation_type: str, alpha: float,
                abs_weight_total: torch.Tensor | float | None = None) -> torch.Tensor:
    """The weighted loss of one batch of pairs under a manipulation type.

    `baseline` trains on both members as ordinary weighted SFT. The two manipulation types
    train on the pairs' shared response tokens through one side only, with mixed logits.
    """
    ids, mask, weights = batch["input_ids"], batch["attention_mask"], batch["weights"]
    if ids.shape[0] % 2:
        raise ValueError(f"a paired batch needs an even number of rows (got {ids.shape[0]})")
    if manipulation_type == "baseline":
        return weighted_sft_loss(model, ids, mask, weights, abs_weight_total)
    if manipulation_type not in GRAD_SIDE:
        raise ValueError(f"manipulation_type {manipulation_type!r}: expected baseline or one of {', '.join(GRAD_SIDE)}")
    no_rows = list(range(0, ids.shape[0], 2))
    inoc_rows = list(range(1, ids.shape[0], 2))
    grad_rows, other_rows = (no_rows, inoc_rows) if GRAD_SIDE[manipulation_type] == "no" else (inoc_rows, no_rows)
    targets, w = paired_targets(ids, weights, grad_rows, other_rows)
    # the head at each row's weighted positions only, in row-major order: the pairs' k-th tokens align
    hidden_g = hidden_at(model, ids[grad_rows], mask[grad_rows], next_token_positions(weights[grad_rows]))
    with torch.no_grad():
        hidden_o = hidden_at(model, ids[other_rows], mask[other_rows], next_token_positions(weights[other_rows]))
    total = w.abs().sum() if abs_weight_total is None else abs_weight_total
    return normalise(weighted_head_ce(model, hidden_g, targets, w, toward=hidden_o, alpha=alpha), total)


def trained_abs_weight(weights: torch.Tensor, manipulation_type: str) -> torch.Tensor:
    """Σ|w| of the tokens a manipulation type trains on: both members for `baseline`, one member
    of each pair otherwise (the normaliser of an accumulated batch of pairs)."""
    return abs_weight_sum(weights if manipulation_type == "baseline" else weights[0::2])


def validate_token_pairs(rows: list[dict], where: str) -> None:
    """Before training: the weighted (response) tokens of rows 2k and 2k+1 are the same tokens,
    so the loop can align them. Names the pair's lines in `where` (the tokenized file)."""
    if len(rows) % 2:
        raise InputError(f"{where}: paired data needs an even number of examples (got {len(rows)})")
    for k in range(0, len(rows), 2):
        a, b = rows[k], rows[k + 1]
        ta = a["input_ids"][1:][a["weights"][1:] != 0]
        tb = b["input_ids"][1:][b["weights"][1:] != 0]
        if not ta.size:
            raise InputError(f"{where}: example {k} (line {a['line']}) has no weighted response tokens")
        if ta.shape != tb.shape or not np.array_equal(ta, tb):
            raise InputError(f"{where}: examples {k} and {k + 1} (lines {a['line']} and {b['line']}) are not a "
                             "pair: their weighted response tokens differ")
