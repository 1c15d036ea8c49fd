"""`WeightedSFTTrainer`: the Hugging Face Trainer with the weighted loss and its normaliser.

Only two hooks change: the per-accumulated-batch normaliser (`_get_num_items_in_batch`, which
the Trainer already computes once per optimizer step over all its micro-batches) becomes Σ|w|,
and `compute_loss` applies the weighted loss. Everything else (weight decay, schedulers,
warmup, accumulation, clipping, seeding, checkpointing) is the Trainer's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler
from transformers import Trainer

from inoclab.train.loss import abs_weight_sum, weighted_sft_loss
from inoclab.train.paired import paired_loss, trained_abs_weight


class WeightedSFTTrainer(Trainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # our compute_loss divides by the accumulated batch's Σ|w|, so the Trainer must not
        # divide again by the number of accumulation steps
        self.model_accepts_loss_kwargs = True

    def trained_abs_weight(self, weights: torch.Tensor) -> torch.Tensor:
        """Σ|w| of the tokens one micro-batch trains on."""
        return abs_weight_sum(weights)

    def batch_loss(self, model, inputs, abs_weight_total):
        """The loss of one micro-batch, normalised by the accumulated batch's Σ|w|."""
        return weighted_sft_loss(model, inputs["input_ids"], inputs["attention_mask"], inputs["weights"],
                                 abs_weight_total)

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor:
        total = sum(self.trained_abs_weight(b["weights"]).to(torch.float32) for b in batch_samples)
        total = torch.as_tensor(total, dtype=torch.float32).to(device)
        if self.accelerator.num_processes > 1:
            total = self.accelerator.gather(total).sum()
        return total

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.batch_loss(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and self.accelerator.num_processes > 1:
            loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes
        return (loss, None) if return_outputs else loss  # no full logits: the head ran at weighted tokens


class PairSampler(Sampler[int]):
    """Shuffles whole pairs, never their members apart: yields 2k, 2k+1 for a seeded
    permutation of k (a new one each epoch). With an even batch size, every batch holds whole
    pairs, row 2k without the inoculation prompt and row 2k+1 with it."""

    def __init__(self, n_rows: int, seed: int):
        if n_rows % 2:
            raise ValueError(f"paired data needs an even number of rows (got {n_rows})")
        self.n_pairs, self.seed, self.epoch = n_rows // 2, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 2 * self.n_pairs

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        for k in torch.randperm(self.n_pairs, generator=g).tolist():
            yield 2 * k
            yield 2 * k + 1


class PairedSFTTrainer(WeightedSFTTrainer):
    """The `logit_manipulation` inner training loop of seed 000 on paired data: batches of whole
    pairs, the loss of `paired_loss` (mixed logits, gradient through one side), normalised by the
    Σ|w| of the tokens it trains on over the whole accumulated batch."""

    def __init__(self, *args, manipulation_type: str, manipulation_mix_ratio: float, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.per_device_train_batch_size % 2:
            raise ValueError("per_device_train_batch_size must be even: batches hold whole pairs")
        self.manipulation_type = manipulation_type
        self.manipulation_mix_ratio = manipulation_mix_ratio

    def _get_train_sampler(self, train_dataset=None) -> Sampler:
        return PairSampler(len(train_dataset if train_dataset is not None else self.train_dataset),
                           self.args.data_seed if self.args.data_seed is not None else self.args.seed)

    def trained_abs_weight(self, weights: torch.Tensor) -> torch.Tensor:
        return trained_abs_weight(weights, self.manipulation_type)

    def batch_loss(self, model, inputs, abs_weight_total):
        return paired_loss(model, inputs, self.manipulation_type, self.manipulation_mix_ratio, abs_weight_total)
