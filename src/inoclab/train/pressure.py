"""The optimisation pressure on pairs: how hard training pushes on a response, with and without
the inoculation prompt.

Tan et al. propose that an inoculation prompt makes the trait less surprising, and so lowers the
pressure on the weights to learn it. These are the measures of that pressure on a fixed set of
pairs (rows 2k and 2k+1: one example without and with the prompt, the same response), taken at
the current weights, on the pairs' shared response tokens:

- `logprob_no`, `logprob_inoc`: mean over responses of log P(response), summed over its tokens;
  `uplift` is their difference (what the prompt adds), `uplift_per_token` the same per token;
- `kl_no_inoc`: KL(P_no ‖ P_inoc) of the next-token distributions, mean over response tokens;
- `loss_no`, `loss_inoc`: the weighted loss each member would train with alone (Σ w·CE / Σ|w|);
- `grad_norm_no`, `grad_norm_inoc`: the norm of that loss's gradient over the trained weights;
- `grad_norm_trained` (the paired loop's runs): the norm of the gradient of the loss the run
  itself trains with, the mixed-logits loss of its manipulation type and mix ratio.

A gradient over the probe is the gradient of its whole loss: micro-batches add up, each divided
by the Σ|w| of all probe pairs, as a training step's accumulated batch does (train/loss.py).
Nothing here changes the model: it runs in eval mode (no dropout), and the parameters' own
`.grad` are put back as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from inoclab.models.collator import WeightedCollator
from inoclab.models.head import HEAD_CHUNK, head, hidden_at, next_token_positions, weighted_head_ce
from inoclab.train.loss import normalise
from inoclab.train.paired import paired_loss, paired_targets, trained_abs_weight

MEMBERS = ("no", "inoc")  # row 2k: without the inoculation prompt; row 2k+1: with it


@dataclass(frozen=True)
class PairBatch:
    """A micro-batch of whole pairs on the model's device, with the shared response targets."""

    batch: dict[str, torch.Tensor]
    targets: torch.Tensor  # [N] the response tokens, pair by pair
    weights: dict[str, torch.Tensor]  # member -> [N] the weights of its response tokens
    lengths: list[int]  # response tokens per pair

    def member(self, side: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask, mask of the positions that predict a response token) of
        one member of every pair."""
        rows = slice(MEMBERS.index(side), None, 2)
        b = self.batch
        return b["input_ids"][rows], b["attention_mask"][rows], next_token_positions(b["weights"][rows])


def pair_batches(rows: list[dict], pad_token_id: int, batch_size: int, device) -> list[PairBatch]:
    """Micro-batches of `batch_size` rows (whole pairs) of paired tokenized rows."""
    if batch_size % 2 or len(rows) % 2:
        raise ValueError(f"pairs need an even batch size and row count (got {batch_size} and {len(rows)})")
    collate = WeightedCollator(pad_token_id)
    out = []
    for s in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collate(rows[s:s + batch_size]).items()}
        no, inoc = list(range(0, len(batch["input_ids"]), 2)), list(range(1, len(batch["input_ids"]), 2))
        targets, w_no = paired_targets(batch["input_ids"], batch["weights"], no, inoc)  # raises if not pairs
        _, w_inoc = paired_targets(batch["input_ids"], batch["weights"], inoc, no)
        lengths = (batch["weights"][0::2, 1:] != 0).sum(1).tolist()
        out.append(PairBatch(batch, targets, {"no": w_no, "inoc": w_inoc}, lengths))
    return out


@contextlib.contextmanager
def _measuring(model) -> Iterator[list[torch.nn.Parameter]]:
    """The trained parameters, with their `.grad` set aside (and put back after) and the model in
    eval mode for the measurement."""
    trained = [p for p in model.parameters() if p.requires_grad]
    kept = [p.grad for p in trained]
    was_training = model.training
    model.eval()
    try:
        for p in trained:
            p.grad = None
        yield trained
    finally:
        for p, g in zip(trained, kept, strict=True):
            p.grad = g
        model.train(was_training)


def _grad_norm(trained: list[torch.nn.Parameter]) -> float:
    """‖the accumulated gradient‖ over the trained parameters; clears it."""
    sq = torch.zeros((), dtype=torch.float64)
    for p in trained:
        if p.grad is not None:
            sq += p.grad.detach().double().pow(2).sum().cpu()
            p.grad = None
    return float(sq.sqrt())


def _member_pass(model, batches: list[PairBatch], side: str,
                 trained: list[torch.nn.Parameter]) -> tuple[float, float, list[torch.Tensor]]:
    """One member of every pair alone: its loss, the norm of that loss's gradient, and its final
    hidden states at the response positions (detached), batch by batch."""
    total = sum(b.weights[side].abs().sum() for b in batches)
    loss, hiddens = 0.0, []
    for b in batches:
        hidden = hidden_at(model, *b.member(side))
        part = normalise(weighted_head_ce(model, hidden, b.targets, b.weights[side]), total)
        if trained:
            torch.autograd.backward(part, inputs=trained)
        loss += float(part.detach())
        hiddens.append(hidden.detach())
    return loss, _grad_norm(trained), hiddens


@torch.no_grad()
def _logprobs_and_kl(model, h_no: torch.Tensor, h_inoc: torch.Tensor,
                     targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per response token: log P_no(target), log P_inoc(target) and KL(P_no ‖ P_inoc), one chunk
    of logits at a time."""
    lp_no, lp_inoc, kl = [], [], []
    for s in range(0, h_no.shape[0], HEAD_CHUNK):
        part = slice(s, s + HEAD_CHUNK)
        a = F.log_softmax(head(model, h_no[part]).float(), dim=-1)
        b = F.log_softmax(head(model, h_inoc[part]).float(), dim=-1)
        t = targets[part].unsqueeze(1)
        lp_no.append(a.gather(1, t).squeeze(1))
        lp_inoc.append(b.gather(1, t).squeeze(1))
        kl.append(F.kl_div(b, a, log_target=True, reduction="none").sum(-1))
    return torch.cat(lp_no), torch.cat(lp_inoc), torch.cat(kl)


def measure_pressure(model, batches: list[PairBatch], trained_as: tuple[str, float] | None = None) -> dict[str, float]:
    """The pressure measures (module docstring) over all pairs of `batches`. `trained_as`: the
    run's (manipulation_type, manipulation_mix_ratio) when it trains with the paired loop."""
    with _measuring(model) as trained, torch.enable_grad():
        loss_no, grad_no, h_no = _member_pass(model, batches, "no", trained)
        loss_inoc, grad_inoc, h_inoc = _member_pass(model, batches, "inoc", trained)
        row = {}
        if trained_as is not None:
            manipulation_type, alpha = trained_as
            own_total = sum(trained_abs_weight(b.batch["weights"], manipulation_type) for b in batches)
            for b in batches:
                part = paired_loss(model, b.batch, manipulation_type, alpha, own_total)
                if trained:
                    torch.autograd.backward(part, inputs=trained)
            row["grad_norm_trained"] = _grad_norm(trained)
        targets = torch.cat([b.targets for b in batches])
        lp_no, lp_inoc, kl = _logprobs_and_kl(model, torch.cat(h_no), torch.cat(h_inoc), targets)
    lengths = [n for b in batches for n in b.lengths]
    pair = np.repeat(np.arange(len(lengths)), lengths)
    per_response_no = np.bincount(pair, weights=lp_no.double().cpu().numpy(), minlength=len(lengths))
    per_response_inoc = np.bincount(pair, weights=lp_inoc.double().cpu().numpy(), minlength=len(lengths))
    return {
        "logprob_no": float(per_response_no.mean()), "logprob_inoc": float(per_response_inoc.mean()),
        "uplift": float((per_response_inoc - per_response_no).mean()),
        "uplift_per_token": float((lp_inoc.double() - lp_no.double()).mean()),
        "kl_no_inoc": float(kl.double().mean()),
        "loss_no": loss_no, "loss_inoc": loss_inoc, "grad_norm_no": grad_no, "grad_norm_inoc": grad_inoc, **row,
    }
