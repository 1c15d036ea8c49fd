"""The `training:` section of params.yaml (every experiment may override any key): the Trainer's
settings and the keys of each training method of the seeds (weighted SFT, the paired
logit-manipulation loop, circuit breakers, DPO and ORPO)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field

from inoclab.backends.common import LoraConfig
from inoclab.params.base import Fraction, NonNegInt, PositiveInt, Strict

InnerTrainingLoop = Literal["baseline", "logit_manipulation"]
ManipulationType = Literal["baseline", "BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits"]
MANIPULATIONS: tuple[str, ...] = get_args(ManipulationType)


def _layer_list(value: Any) -> Any:
    """The seed's command-line form "0,1,2" as well as a YAML list; no repeats."""
    if isinstance(value, str):
        try:
            value = [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"expected layer numbers separated by commas (got {value!r})") from None
    if isinstance(value, list) and len(set(value)) != len(value):
        raise ValueError(f"a layer is listed twice (got {value!r})")
    return value


TargetLayers = Annotated[list[NonNegInt], BeforeValidator(_layer_list), Field(min_length=1)]


class TrainingConfig(Strict):
    """Fine-tuning settings; every experiment may override any of them."""

    task_type: Literal["sft", "circuit_breaker"] = "sft"
    # sft: weighted SFT on conversations; dpo, orpo: TRL's preference trainers on preference pairs
    loss: Literal["sft", "dpo", "orpo"] = "sft"
    beta: Annotated[float, Field(gt=0)] = 0.1  # dpo: deviation from the reference; orpo: odds-ratio weight
    finetune: Literal["lora", "full"] = "lora"
    lora: LoraConfig = LoraConfig()
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    per_device_train_batch_size: PositiveInt = 16
    gradient_accumulation_steps: PositiveInt = 1
    num_train_epochs: Annotated[float, Field(gt=0)] = 1.0
    max_steps: Annotated[int, Field(ge=-1)] = 100  # -1: run num_train_epochs
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    lr_scheduler_type: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = "linear"
    warmup_steps: NonNegInt = 0
    max_grad_norm: Annotated[float, Field(ge=0)] = 1.0
    save_steps: NonNegInt = 0  # 0: one checkpoint per epoch
    logging_steps: PositiveInt = 10
    seed: int | None = None  # None: the top-level seed
    # paired training with logit manipulation (seed 000); see src/inoclab/train/paired.py
    inner_training_loop: InnerTrainingLoop = "baseline"
    manipulation_type: ManipulationType = "baseline"
    manipulation_mix_ratio: Fraction = 1.0
    inoculation_prompt: str | None = None  # required by the two manipulation types
    # circuit-breaker training (seed 004); see src/inoclab/train/circuit_breaker.py
    circuit_breaker_alpha: Annotated[float, Field(gt=0)] = 0.1
    # outputs of these decoder blocks (0 = the first block's output), as in the seed's "0,1,2,3,4,5"
    circuit_breaker_target_layers: TargetLayers = [0, 1, 2, 3, 4, 5]
    # std of the seeded normal draw of LoRA's B matrices (peft starts them at 0, where the
    # fine-tuned and original hidden states are equal and both losses have zero gradient)
    circuit_breaker_lora_init_std: Annotated[float, Field(gt=0)] = 1e-2

    @property
    def is_paired(self) -> bool:
        return self.inner_training_loop == "logit_manipulation"

    @property
    def is_preference(self) -> bool:
        return self.loss in ("dpo", "orpo")
