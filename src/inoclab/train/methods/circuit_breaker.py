"""Circuit-breaker training (seed 004, `task_type: circuit_breaker`): LoRA reroutes the hidden
states of harmful prompts away from the original model's and keeps benign ones in place
(train/circuit_breaker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field

from inoclab import paths
from inoclab.backends.common import NEEDS_LORA
from inoclab.data.builders.circuit_breaker import CircuitBreakerDataset
from inoclab.params.base import NonNegInt, Strict
from inoclab.train.methods.base import Declared, Loaded, TrainingMethod

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.train.settings import TrainingConfig



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


class CircuitBreakerSettings(Strict):
    circuit_breaker_alpha: Annotated[float, Field(gt=0)] = 0.1
    # outputs of these decoder blocks (0 = the first block's output), as in the seed's "0,1,2,3,4,5"
    circuit_breaker_target_layers: TargetLayers = [0, 1, 2, 3, 4, 5]
    # std of the seeded normal draw of LoRA's B matrices (peft starts them at 0, where the
    # fine-tuned and original hidden states are equal and both losses have zero gradient)
    circuit_breaker_lora_init_std: Annotated[float, Field(gt=0)] = 1e-2


class CircuitBreaker(TrainingMethod):
    name = "circuit_breaker"
    settings = CircuitBreakerSettings
    switch = ("task_type", "circuit_breaker")

    def check(self, run: Declared) -> None:
        if run.training.finetune != "lora":
            raise run.error("finetune", NEEDS_LORA)
        if not isinstance(run.dataset, CircuitBreakerDataset):
            raise run.error_at_dataset(f"{run.exp.dataset!r} is not circuit-breaker data: task_type "
                                       "circuit_breaker needs a dataset with builder circuit_breaker")

    def load(self, params: Params, name: str, dataset: str, t: TrainingConfig) -> Loaded:
        """The rows, split by kind and checked: the losses read every token of both sets, not
        weighted ones, so what must not be empty is each set."""
        from inoclab.io import InputError
        from inoclab.tokenize import describe_dataset, read_tokenized
        from inoclab.train.circuit_breaker import CircuitBreakerPairs, split_rows

        tokenized = paths.tokenized(params.model_slug, dataset)
        rows = read_tokenized(tokenized)
        try:
            CircuitBreakerPairs(*split_rows(rows)[:2])  # its own check: neither set is empty
        except InputError as e:
            raise InputError(f"{describe_dataset(dataset, paths.dataset(dataset), tokenized)}: {e}") from None
        return Loaded(rows, len(rows))

    def check_model(self, params: Params, name: str, t: TrainingConfig, model, tokenizer, loaded: Loaded) -> None:
        from inoclab.models.hidden import check_target_layers

        check_target_layers(model, t.circuit_breaker_target_layers,
                            f"{params.declared_key(name)}.training.circuit_breaker_target_layers")

    def prepare(self, model, t: TrainingConfig) -> None:
        from inoclab.train.circuit_breaker import break_symmetry

        n = break_symmetry(model, t.circuit_breaker_lora_init_std, t.seed)
        print(f"circuit breaker: {n} LoRA B matrices drawn from N(0, {t.circuit_breaker_lora_init_std:g}²) "
              f"(seed {t.seed}) so that training can leave the original model")

    def trainer(self, model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                log_path: str | Path | None = None, callbacks=(), **arg_overrides):
        from inoclab.train.circuit_breaker import circuit_breaker_trainer

        return circuit_breaker_trainer(model, tokenizer, data, t, output_dir, log_path, callbacks, **arg_overrides)
