"""The weighted SFT loss: Σ w·CE / Σ|w| over every weighted token of the accumulated batch.

Dividing by Σ|w| (not the signed Σw) keeps the sign of each token's contribution: a block
trained with weight −1 has its likelihood pushed down, and weights all −1 give a negative loss.
The normaliser is passed in, so that micro-batches of one accumulated batch share it and
gradient accumulation 4 × batch 1 equals 1 × batch 4.
"""

from __future__ import annotations

import torch

from inoclab.models.head import hidden_at, next_token_positions, weighted_head_ce


def shifted(weights: torch.Tensor) -> torch.Tensor:
    """Weights aligned with next-token predictions: position t predicts token t+1."""
    return weights[:, 1:]


def weighted_ce_sum(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    weights: torch.Tensor) -> torch.Tensor:
    """Σ w·CE over tokens with non-zero weight. The head runs at those positions only, a chunk
    at a time (models/head.py), so time scales with weighted tokens, not the padded batch, and
    the logits' memory with neither."""
    positions = next_token_positions(weights)
    trained = positions[:, :-1]  # the same mask over the shifted targets
    if not bool(trained.any()):  # a zero loss with a (zero) gradient, for an empty batch
        return sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
    w = shifted(weights)
    hidden = hidden_at(model, input_ids, attention_mask, positions)
    return weighted_head_ce(model, hidden, input_ids[:, 1:][trained], w[trained])


def abs_weight_sum(weights: torch.Tensor) -> torch.Tensor:
    return shifted(weights).abs().sum()


def normalise(loss_sum: torch.Tensor, abs_weight_total: torch.Tensor | float) -> torch.Tensor:
    """loss_sum / Σ|w|; a batch with no weighted token gives exactly 0 (and no gradient)."""
    denom = torch.as_tensor(abs_weight_total, dtype=loss_sum.dtype, device=loss_sum.device)
    return loss_sum / denom.clamp_min(torch.finfo(loss_sum.dtype).tiny)


def weighted_sft_loss(model, input_ids, attention_mask, weights, abs_weight_total=None) -> torch.Tensor:
    """The loss of one (micro-)batch; `abs_weight_total` is Σ|w| of the accumulated batch."""
    total = abs_weight_sum(weights) if abs_weight_total is None else abs_weight_total
    return normalise(weighted_ce_sum(model, input_ids, attention_mask, weights), total)
