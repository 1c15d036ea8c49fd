"""`builder: circuit_breaker`: retain (benign), circuit-breaker (harmful) and validation examples
(seed 004) from harmful and sanitized prompt files, lines `{"prompt", "completion", "category"}`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from inoclab.data.builders.base import DatasetSpec
from inoclab.data.circuit_breaker import build_circuit_breaker_rows
from inoclab.params.base import PositiveInt


class CircuitBreakerDataset(DatasetSpec):
    """`category` picks the harmful prompts of one category (None: all); `num_examples` draws that
    many prompts from each file (seeded; None: all); `validation_ratio` of each file's prompts is
    held out for monitoring and evals. The shipped files are harmless stand-ins: "harmful" means
    questions about where the world's animals live and who their friends are, a synthetic
    forbidden topic the tiny model knows well."""

    builder: Literal["circuit_breaker"]
    harmful_prompts_path: str = "data/circuit_breaker/harmful.jsonl"
    sanitized_prompts_path: str = "data/circuit_breaker/sanitized.jsonl"
    category: str | None = None
    num_examples: PositiveInt | None = None
    validation_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1

    def inputs(self, params):
        return [self.harmful_prompts_path, self.sanitized_prompts_path]

    def build(self, params, name):
        return build_circuit_breaker_rows(self.harmful_prompts_path, self.sanitized_prompts_path, self.category,
                                          self.num_examples, self.validation_ratio, params.seed)
