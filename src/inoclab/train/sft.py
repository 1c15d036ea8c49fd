"""The Trainer settings every method shares, and a Trainer on tokenized rows (weighted SFT, the
paired loop, pretraining)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments, set_seed

from inoclab.io import InputError
from inoclab.models.collator import WeightedCollator
from inoclab.train.train_log import TrainLog

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig


class RowsDataset(Dataset):
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        r = self.rows[i]
        return {"input_ids": r["input_ids"], "weights": r["weights"]}


def training_arguments(cfg: TrainingConfig, output_dir: str | Path, **overrides) -> TrainingArguments:
    return TrainingArguments(**training_kwargs(cfg, output_dir, **overrides))


def training_kwargs(cfg: TrainingConfig, output_dir: str | Path, **overrides) -> dict:
    """The Trainer's arguments from an experiment's settings (TRL's configs take the same)."""
    seed = cfg.seed if cfg.seed is not None else 42
    kwargs = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        max_grad_norm=cfg.max_grad_norm,
        seed=seed,
        data_seed=seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "epoch",
        save_steps=cfg.save_steps or 500,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # recomputation is the backend's business (unsloth's own checkpointing); TRL's preference
        # configs would turn the Trainer's on, unlike SFT
        gradient_checkpointing=False,
        use_cpu=not torch.cuda.is_available(),
    )
    kwargs.update(overrides)
    return kwargs


def half_precision(model) -> dict:
    """bf16/fp16 autocast for a model loaded in half precision on a GPU (the Trainer, and
    unsloth's checks, expect the flag to match the weights); off for float32 or the CPU. Always
    explicit: TRL's configs turn bf16 on when it is left unset, which ran DPO and ORPO on the
    CPU in bfloat16 autocast (numerically apart from SFT, and about 6x slower per step)."""
    dtype = getattr(model, "dtype", torch.float32)
    half = torch.cuda.is_available() and dtype != torch.float32
    return {"bf16": half and dtype == torch.bfloat16, "fp16": half and dtype == torch.float16}


def trainer_callbacks(callbacks, log_path: str | Path | None) -> list:
    """The caller's callbacks, then the train log (a dvclive folder) when its path is given."""
    return list(callbacks) + ([TrainLog(log_path)] if log_path else [])


def rows_trainer(trainer_class, model, tokenizer, rows: list[dict], cfg: TrainingConfig, output_dir: str | Path,
                 log_path: str | Path | None = None, callbacks=(), trainer_kwargs: dict | None = None,
                 **arg_overrides) -> Trainer:
    """A Trainer of `trainer_class` on tokenized rows, padded by the weighted collator."""
    if not rows:
        raise InputError("no training examples")
    set_seed(cfg.seed if cfg.seed is not None else 42)
    args = training_arguments(cfg, output_dir, **half_precision(model), **arg_overrides)
    return trainer_class(model=model, args=args, processing_class=tokenizer, train_dataset=RowsDataset(rows),
                         data_collator=WeightedCollator(tokenizer.pad_token_id),
                         callbacks=trainer_callbacks(callbacks, log_path), **(trainer_kwargs or {}))
