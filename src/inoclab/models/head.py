"""The language-model head applied only where it is read.

A causal LM's forward pass ends with the head: a [hidden × vocabulary] matmul at every position
of the padded batch. The weighted losses, logprob evals and callbacks read the logits at a few
positions (the weighted response tokens), so they run the decoder, gather the hidden states at
those positions and apply the head there only: with SmolLM2's 49,152-token vocabulary that is
most of a step's logits memory and a fifth of its FLOPs (bench/head_step.py).

What a model's forward does after its head (Gemma 2/3 soft-capping, Cohere's logit scale,
Granite's logit scaling) is applied here too, so the logits equal the full forward's at the
same positions (tests/test_head.py checks the tiny and the real model).
"""

from __future__ import annotations

import torch


def _base(model):
    """The transformers model under a PEFT wrapper (the adapter stays active)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def hidden_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """[N, hidden]: the final hidden states (after the decoder's last norm) at the True entries of
    the [batch, tokens] mask `positions`, in row-major order."""
    decoder = _base(model).get_decoder()
    out = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state[positions]


def head(model, hidden: torch.Tensor) -> torch.Tensor:
    """Logits of `hidden` states: the output embedding and the post-head transform of the model."""
    base = _base(model)
    logits = base.get_output_embeddings()(hidden)
    cfg = base.config
    if (scale := getattr(cfg, "logit_scale", None)) is not None:  # Cohere
        logits = logits * scale
    if (scaling := getattr(cfg, "logits_scaling", None)) is not None:  # Granite
        logits = logits / scaling
    if (cap := getattr(cfg, "final_logit_softcapping", None)) is not None:  # Gemma 2/3
        logits = torch.tanh(logits / cap) * cap
    return logits


def logits_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """[N, vocabulary]: what `model(...).logits[positions]` gives, without computing the rest."""
    return head(model, hidden_at(model, input_ids, attention_mask, positions))


def next_token_positions(weights: torch.Tensor) -> torch.Tensor:
    """[batch, tokens] mask of the positions t whose next token t+1 carries a weight (position t
    predicts token t+1); the last position predicts nothing."""
    mask = torch.zeros_like(weights, dtype=torch.bool)
    mask[:, :-1] = weights[:, 1:] != 0
    return mask
