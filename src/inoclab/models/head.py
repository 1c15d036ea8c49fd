"""The language-model head applied only where it is read.

A causal LM's forward pass ends with the head: a [hidden × vocabulary] matmul at every position
of the padded batch. The weighted losses, logprob evals and callbacks read the logits at a few
positions (the weighted response tokens), so they run the decoder, gather the hidden states at
those positions and apply the head there only: with SmolLM2's 49,152-token vocabulary that is
most of a step's logits memory and a fifth of its FLOPs (bench/head_step.py).

What a model's forward does after its head (Gemma 2/3 soft-capping, Cohere's logit scale,
Granite's logit scaling) is applied here too, so the logits equal the full forward's at the
same positions (tests/test_head.py checks the tiny and the real model).

Even at weighted positions only, SFT data is mostly response tokens, and [tokens × vocabulary]
float32 logits, their log-softmax and their gradient would be most of a step's memory (3 × 0.8 GB
for 4,000 tokens of SmolLM2). The losses therefore go through `weighted_head_ce`, which takes the
head and the cross-entropy a chunk of positions at a time and computes the gradient of each chunk
as it goes (the scheme of Liger-Kernel's fused linear cross-entropy): one chunk's logits exist at
a time, and no FLOP is spent twice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# positions per head matmul: 512 × 49,152 float32 logits is 100 MB (tiny's 64-token vocabulary: 128 kB)
HEAD_CHUNK = 512


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


def mix_logits(own: torch.Tensor, other: torch.Tensor, alpha: float) -> torch.Tensor:
    """α·sg(other) + own − α·sg(own): the value moves toward `other` by α, the gradient is that of
    `own` alone (the paired loop's logit manipulation, train/paired.py)."""
    return alpha * other.detach() + own - alpha * own.detach()


def _chunk_loss(model, hidden, targets, coef, toward, alpha):
    logits = head(model, hidden).float()
    if toward is not None:
        with torch.no_grad():
            other = head(model, toward).float()
        logits = mix_logits(logits, other, alpha)
    return (F.cross_entropy(logits, targets, reduction="none") * coef).sum()


class _WeightedHeadCE(torch.autograd.Function):
    """Σ coef·CE(head(hidden), targets), one chunk of positions at a time. Each chunk's gradient
    (to the hidden states, and to the head's own parameters where they train) is taken in the
    forward pass and scaled by the incoming gradient in the backward one: the loss is a scalar,
    so that is exact."""

    @staticmethod
    def forward(ctx, hidden, targets, coef, toward, alpha, model, chunk, *params):
        need_hidden = ctx.needs_input_grad[0]
        trained = [p for p, need in zip(params, ctx.needs_input_grad[7:], strict=True) if need]
        grad_hidden = torch.zeros_like(hidden) if need_hidden else None
        grad_params = [torch.zeros_like(p) for p in trained]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for s in range(0, hidden.shape[0], chunk):
            part = slice(s, s + chunk)
            h = hidden[part].detach().requires_grad_(need_hidden)
            with torch.enable_grad():
                loss = _chunk_loss(model, h, targets[part], coef[part], None if toward is None else toward[part], alpha)
            if need_hidden or trained:
                kept = [p.grad for p in trained]  # the parameters' own gradients, put back below
                for p in trained:
                    p.grad = None
                # backward, not autograd.grad: module hooks (torch's FLOP counter) refuse the latter on a leaf
                torch.autograd.backward(loss, inputs=([h] if need_hidden else []) + trained)
                if need_hidden:
                    grad_hidden[part] = h.grad
                for acc, p, grad in zip(grad_params, trained, kept, strict=True):
                    acc += p.grad
                    p.grad = grad
            total += loss.detach()
        ctx.save_for_backward(grad_hidden, *grad_params)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, *grad_params = ctx.saved_tensors
        params = iter(grad_params)
        return (None if grad_hidden is None else grad_hidden * grad_out, None, None, None, None, None, None,
                *(next(params) * grad_out if need else None for need in ctx.needs_input_grad[7:]))


def weighted_head_ce(model, hidden: torch.Tensor, targets: torch.Tensor, coef: torch.Tensor,
                     toward: torch.Tensor | None = None, alpha: float = 0.0,
                     chunk: int = HEAD_CHUNK) -> torch.Tensor:
    """Σ coef·CE(logits of `hidden`, `targets`) over [N] positions, with memory for one chunk of
    logits. With `toward` (hidden states aligned with `hidden`), each logit is first moved toward
    the logits of `toward` by `alpha` (`mix_logits`), with no gradient through `toward`."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 (got {chunk})")
    params = list(_base(model).get_output_embeddings().parameters())
    return _WeightedHeadCE.apply(hidden, targets, coef.float(), toward, alpha, model, chunk, *params)


@torch.no_grad()
def target_logprobs(model, hidden: torch.Tensor, targets: torch.Tensor, chunk: int = HEAD_CHUNK) -> torch.Tensor:
    """[N] float32: log P(target | hidden state), one chunk of logits at a time."""
    return torch.cat([-F.cross_entropy(head(model, hidden[s:s + chunk]).float(), targets[s:s + chunk], reduction="none")
                      for s in range(0, hidden.shape[0], chunk)])
