"""`eval.circuit_breaker`: held-out harmful and benign prompts before and after training
(eval/circuit_breaker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.backends.common import NEEDS_LORA
from inoclab.data.builders.circuit_breaker import CircuitBreakerDataset
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import ParamsError, PositiveInt, Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class CircuitBreakerEvalConfig(Strict):
    """Held-out harmful and benign prompts (a circuit_breaker dataset's validation split): cosine
    similarity of the hidden states to the original model's, completion logprobs and greedy
    responses before (adapter disabled) and after training."""

    dataset: str  # a dataset with builder circuit_breaker
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class CircuitBreakerSettings(Strict):
    circuit_breaker: CircuitBreakerEvalConfig | None = None


class CircuitBreakerEval(EvalKind):
    settings = CircuitBreakerSettings
    section = "circuit_breaker"

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [("circuit_breaker.dataset", e.circuit_breaker.dataset)]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        name = exp.eval.circuit_breaker.dataset
        require(params, f"{key}.eval.circuit_breaker.dataset", name, "a dataset with builder circuit_breaker",
                isinstance(params.datasets[name], CircuitBreakerDataset))
        if params.merged_training(exp).finetune != "lora":  # the original is the model with its adapter disabled
            raise ParamsError(params.training_key(key, exp, "finetune"), NEEDS_LORA)

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.dataset(e.circuit_breaker.dataset))]

    def check_data(self, params: Params, e: EvalConfig) -> None:
        from inoclab.data.conversations import read_conversations
        from inoclab.eval.circuit_breaker import held_out

        where = paths.dataset(e.circuit_breaker.dataset)
        held_out(read_conversations(where), str(where))

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.eval.circuit_breaker import circuit_breaker_eval
        from inoclab.io import write_jsonl

        summary, records = circuit_breaker_eval(params, name, model, tokenizer, e.circuit_breaker)
        write_jsonl(details / "circuit_breaker.jsonl", records)
        return summary
