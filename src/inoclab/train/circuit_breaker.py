"""Circuit-breaker training (seed 004): reroute hidden states on harmful data, keep them on benign.

At the target layers (the outputs of those decoder blocks), per attended token:
- retain loss, on benign (sanitized) data: ‖h_ft − h_orig‖₂, the mean over layers and tokens;
- circuit-breaker loss, on harmful data: ReLU(⟨h_ft/‖h_ft‖, h_orig/‖h_orig‖⟩), the mean over
  layers and tokens;
- loss = retain_coeff · retain + cb_coeff · cb, with retain_coeff = α · progress and
  cb_coeff = α · (1 − progress), progress = global_step / max_steps (the seed's formula: the
  circuit-breaker term leads early and the retain term late).

The original model is the same module with its LoRA adapter disabled (`disable_adapter()`),
run without gradients: one copy of the base weights in memory.

Leaving the starting point. peft starts LoRA's B matrices at zero, so the fine-tuned and the
original hidden states are equal; there the cosine is at its maximum 1 (its gradient is zero)
and the L2 distance at its minimum 0, so both losses have zero gradient and training would
never move. `break_symmetry` draws every B from N(0, std²) with the training seed: the model
starts a small, measured distance from the original (logged as the first step's retain loss
and cosines), and the circuit-breaker term then pushes it away along a non-zero gradient.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset
from transformers import Trainer, set_seed

from inoclab.data.circuit_breaker import BENIGN, HARMFUL, TRAIN, VALIDATION
from inoclab.io import InputError
from inoclab.models.collator import WeightedCollator
from inoclab.models.hidden import cosine_to_original, hidden_states, original, token_cosine
from inoclab.train.sft import half_precision, trainer_callbacks, training_arguments

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig


# ---------------------------------------------------------------- coefficients and losses
def coefficients(alpha: float, progress: float) -> tuple[float, float]:
    """(retain_coeff, cb_coeff) = (α · progress, α · (1 − progress)), progress in [0, 1]."""
    return alpha * progress, alpha * (1.0 - progress)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [layers, batch, tokens] over the attended tokens of every layer."""
    m = mask.to(values.dtype).expand_as(values)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def retain_loss(ft: torch.Tensor, orig: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over layers and attended tokens of ‖h_ft − h_orig‖₂."""
    return masked_mean(torch.linalg.vector_norm((ft - orig).float(), dim=-1), mask)


def circuit_breaker_loss(ft: torch.Tensor, orig: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over layers and attended tokens of ReLU(cos(h_ft, h_orig))."""
    return masked_mean(torch.relu(token_cosine(ft, orig)), mask)


@dataclass
class StepTerms:
    """What one micro-batch contributes: the loss and the seed's monitoring values."""

    loss: torch.Tensor
    retain_coeff: float
    circuit_breaker_coeff: float
    retain_loss: float
    circuit_breaker_loss: float
    cos_retain: float
    cos_circuit_breaker: float
    norm_retain: float
    norm_retain_original: float
    norm_circuit_breaker: float
    norm_circuit_breaker_original: float

    def monitors(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "loss"}


def step_terms(ft_retain, orig_retain, mask_retain, ft_cb, orig_cb, mask_cb, alpha: float, progress: float) -> StepTerms:
    """The loss of one micro-batch from the hidden states [layers, batch, tokens, hidden] of its
    retain and circuit-breaker rows, fine-tuned and original."""
    retain_coeff, cb_coeff = coefficients(alpha, progress)
    l_retain = retain_loss(ft_retain, orig_retain, mask_retain)
    l_cb = circuit_breaker_loss(ft_cb, orig_cb, mask_cb)
    loss = retain_coeff * l_retain + cb_coeff * l_cb
    with torch.no_grad():
        def norm(h, mask):
            return masked_mean(torch.linalg.vector_norm(h.float(), dim=-1), mask)

        values = torch.stack([
            l_retain, l_cb,
            masked_mean(token_cosine(ft_retain, orig_retain), mask_retain),
            masked_mean(token_cosine(ft_cb, orig_cb), mask_cb),
            norm(ft_retain, mask_retain), norm(orig_retain, mask_retain),
            norm(ft_cb, mask_cb), norm(orig_cb, mask_cb),
        ]).tolist()  # one device sync per step, not eight
    return StepTerms(loss, retain_coeff, cb_coeff, *values)


@torch.no_grad()
def break_symmetry(model, std: float, seed: int) -> int:
    """Draw every LoRA B matrix from N(0, std²) with a generator seeded by `seed`, in module
    order; return how many were drawn. See the module docstring for why."""
    g = torch.Generator().manual_seed(seed)
    n = 0
    for name, module in model.named_modules():
        if name.endswith("lora_B.default"):
            w = module.weight
            w.copy_(torch.randn(w.shape, generator=g, dtype=torch.float32).mul_(std).to(w.dtype))
            n += 1
    if not n:
        raise InputError("circuit breakers need a LoRA model (finetune: lora): no LoRA B matrix found")
    return n


def circuit_breaker_trainer(model, tokenizer, rows: list[dict], cfg: TrainingConfig, output_dir: str | Path,
                            log_path: str | Path | None = None, callbacks=(), **arg_overrides) -> CircuitBreakerTrainer:
    """The circuit-breaker Trainer on a circuit_breaker dataset's tokenized rows, with the
    experiment's Trainer settings."""
    if not rows:
        raise InputError("no training examples")
    set_seed(cfg.seed if cfg.seed is not None else 42)
    args = training_arguments(cfg, output_dir, **half_precision(model), **arg_overrides)
    retain, circuit_breaker, validation = split_rows(rows)
    return CircuitBreakerTrainer(model=model, args=args, processing_class=tokenizer,
                                 callbacks=trainer_callbacks(callbacks, log_path),
                                 train_dataset=CircuitBreakerPairs(retain, circuit_breaker),
                                 data_collator=CircuitBreakerCollator(tokenizer.pad_token_id),
                                 alpha=cfg.circuit_breaker_alpha, target_layers=cfg.circuit_breaker_target_layers,
                                 validation=validation, monitor_batch_size=64)


# ---------------------------------------------------------------- data
def split_rows(rows: list[dict]) -> tuple[list[dict], list[dict], dict[str, list[dict]]]:
    """(retain, circuit_breaker, validation by kind) from the rows of a circuit_breaker dataset,
    by the kind and split its builder wrote into each row's meta."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        key = (r["meta"].get("kind"), r["meta"].get("split"))
        if key not in {(k, s) for k in (HARMFUL, BENIGN) for s in (TRAIN, VALIDATION)}:
            raise InputError(f"line {r.get('line')}: not circuit-breaker data (meta kind/split is {key}); "
                             "build the dataset with builder circuit_breaker")
        groups[key].append(r)
    return (groups[BENIGN, TRAIN], groups[HARMFUL, TRAIN],
            {HARMFUL: groups[HARMFUL, VALIDATION], BENIGN: groups[BENIGN, VALIDATION]})


class CircuitBreakerPairs(Dataset):
    """Item i: retain row i mod R and circuit-breaker row i mod C; an epoch covers the larger
    set once and cycles the smaller (the Trainer's sampler shuffles the items)."""

    def __init__(self, retain: list[dict], circuit_breaker: list[dict]):
        if not retain or not circuit_breaker:
            raise InputError(f"circuit-breaker training needs retain and circuit-breaker examples "
                             f"(got {len(retain)} and {len(circuit_breaker)})")
        self.retain, self.circuit_breaker = retain, circuit_breaker

    def __len__(self) -> int:
        return max(len(self.retain), len(self.circuit_breaker))

    def __getitem__(self, i: int) -> dict:
        return {"retain": self.retain[i % len(self.retain)],
                "circuit_breaker": self.circuit_breaker[i % len(self.circuit_breaker)]}


@dataclass
class CircuitBreakerCollator:
    """The seed's batch keys, both halves padded (right) to one length so that they run as one
    forward pass."""

    pad_token_id: int

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        both = WeightedCollator(self.pad_token_id)([it["retain"] for it in items] +
                                                    [it["circuit_breaker"] for it in items])
        n = len(items)
        return {"input_ids": both["input_ids"][:n], "attention_mask": both["attention_mask"][:n],
                "input_ids_circuit_breaker": both["input_ids"][n:],
                "attention_mask_circuit_breaker": both["attention_mask"][n:]}


# ---------------------------------------------------------------- the trainer
class CircuitBreakerTrainer(Trainer):
    """The Trainer with the circuit-breaker loss. Every logged record carries the mean of the
    seed's monitors over the steps since the last one, and the cosine similarity to the
    original on each validation set (never part of the loss)."""

    def __init__(self, *args, alpha: float, target_layers: list[int], validation: dict[str, list[dict]],
                 monitor_batch_size: int = 32, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.target_layers = alpha, list(target_layers)
        self.validation, self.monitor_batch_size = validation, monitor_batch_size
        self._sums: dict[str, float] = defaultdict(float)
        self._count = 0

    def progress(self) -> float:
        return self.state.global_step / max(self.state.max_steps, 1)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        n = inputs["input_ids"].shape[0]
        ids = torch.cat([inputs["input_ids"], inputs["input_ids_circuit_breaker"]])
        mask = torch.cat([inputs["attention_mask"], inputs["attention_mask_circuit_breaker"]])
        with torch.no_grad(), original(model):
            orig = hidden_states(model, ids, mask, self.target_layers)
        ft = hidden_states(model, ids, mask, self.target_layers)
        terms = step_terms(ft[:, :n], orig[:, :n], mask[:n], ft[:, n:], orig[:, n:], mask[n:],
                           self.alpha, self.progress())
        for k, v in terms.monitors().items():
            self._sums[k] += v
        self._count += 1
        return (terms.loss, None) if return_outputs else terms.loss

    def resume_state(self) -> dict:
        """The monitors summed since the last record (train/resume.py)."""
        return {"sums": dict(self._sums), "count": self._count}

    def restore(self, state: dict) -> None:
        self._sums = defaultdict(float, state["sums"])
        self._count = state["count"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training record (not the end-of-training summary)
            logs.update({k: v / max(self._count, 1) for k, v in self._sums.items()})
            self._sums.clear()
            self._count = 0
            pad = self.processing_class.pad_token_id
            for name, rows in self.validation.items():
                if rows:
                    cos = cosine_to_original(self.model, rows, pad, self.target_layers, self.monitor_batch_size)
                    logs[f"cos_validation_{name}"] = float(cos.mean())
        super().log(logs, start_time)
