"""Weighted SFT (the default method): token-weighted cross-entropy on tokenized conversations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab.train.methods.base import Declared, TrainingMethod

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig


class WeightedSFT(TrainingMethod):
    name = "sft"

    def check(self, run: Declared) -> None:
        if run.dataset.kind == "preference":
            raise run.error_at_dataset(f"loss {run.training.loss} on dataset {run.exp.dataset!r}: "
                                       "needs loss: dpo or orpo")
        if run.dataset.kind == "mcq":
            raise run.error_at_dataset(f"{run.exp.dataset!r} is an MCQ dataset: training reads conversations")

    def trainer(self, model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                log_path: str | Path | None = None, callbacks=(), **arg_overrides):
        from inoclab.train.sft import rows_trainer
        from inoclab.train.trainer import WeightedSFTTrainer

        return rows_trainer(WeightedSFTTrainer, model, tokenizer, data, t, output_dir, log_path, callbacks,
                            **arg_overrides)
