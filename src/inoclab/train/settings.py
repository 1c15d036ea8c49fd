"""The `training:` section of params.yaml (every experiment may override any key): the Trainer's
settings, shared by every method, plus the keys each training method owns (train/methods/),
flat as the seeds name them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from inoclab.backends.common import LoraConfig
from inoclab.params.base import NonNegInt, PositiveInt, Strict
from inoclab.train.methods import METHOD_SETTINGS, TrainingMethod, method_for


def _some_steps(value: int) -> int:
    if value == 0:
        raise ValueError("0 optimizer steps trains nothing: give a positive number, or -1 to run num_train_epochs")
    return value


class TrainerSettings(Strict):
    """What every method trains with: the Hugging Face Trainer's arguments and the adapter."""

    # the keys that pick the training method (train/methods/__init__.py): circuit_breaker is a task
    # of its own; dpo and orpo are TRL's preference trainers; sft is weighted SFT on conversations
    task_type: Literal["sft", "circuit_breaker"] = "sft"
    loss: Literal["sft", "dpo", "orpo"] = "sft"
    finetune: Literal["lora", "full"] = "lora"
    lora: LoraConfig = LoraConfig()
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    per_device_train_batch_size: PositiveInt = 16
    gradient_accumulation_steps: PositiveInt = 1
    num_train_epochs: Annotated[float, Field(gt=0)] = 1.0
    # -1: run num_train_epochs; 0 (no step) is refused
    max_steps: Annotated[int, Field(ge=-1), AfterValidator(_some_steps)] = 100
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    lr_scheduler_type: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = "linear"
    warmup_steps: NonNegInt = 0
    max_grad_norm: Annotated[float, Field(ge=0)] = 1.0
    save_steps: NonNegInt = 0  # 0: one checkpoint per epoch
    # keep the checkpoints in model/checkpoints/ when the run finishes (a trigger eval's epoch curve
    # reads them); else they are resume state, dropped with it: a finished run is final/ only
    keep_checkpoints: bool = False
    logging_steps: PositiveInt = 10
    seed: int | None = None  # None: the top-level seed


class TrainingConfig(TrainerSettings, *METHOD_SETTINGS):
    """Fine-tuning settings; every experiment may override any of them."""

    @property
    def method(self) -> TrainingMethod:
        """The training method these settings select (train/methods/)."""
        return method_for(self)
