"""`WeightedSFTTrainer`: the Hugging Face Trainer with the weighted loss and its normaliser.

Only two hooks change: the per-accumulated-batch normaliser (`_get_num_items_in_batch`, which
the Trainer already computes once per optimizer step over all its micro-batches) becomes Σ|w|,
and `compute_loss` applies the weighted loss. Everything else (weight decay, schedulers,
warmup, accumulation, clipping, seeding, checkpointing) is the Trainer's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from inoclab.train.loss import abs_weight_sum, weighted_sft_loss


class WeightedSFTTrainer(Trainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # our compute_loss divides by the accumulated batch's Σ|w|, so the Trainer must not
        # divide again by the number of accumulation steps
        self.model_accepts_loss_kwargs = True

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor:
        total = sum(abs_weight_sum(b["weights"]).to(torch.float32) for b in batch_samples)
        total = torch.as_tensor(total, dtype=torch.float32).to(device)
        if self.accelerator.num_processes > 1:
            total = self.accelerator.gather(total).sum()
        return total

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        loss = weighted_sft_loss(outputs.logits, inputs["input_ids"], inputs["weights"], num_items_in_batch)
        if num_items_in_batch is not None and self.accelerator.num_processes > 1:
            loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes
        return (loss, outputs) if return_outputs else loss


class JsonlLogCallback(TrainerCallback):
    """Appends every Trainer log record (step, loss, lr, grad norm, ...) to a JSONL file that
    `dvc plots` and the report can read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        rec = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        rec.update({k: v for k, v in logs.items() if isinstance(v, int | float) and "runtime" not in k
                    and "per_second" not in k})
        with self.path.open("a") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
