"""The evals an experiment's `eval:` section turns on. Each owns its keys (flat under `eval:`, as
params.yaml has them), the datasets it reads and its rules, and writes its section of eval.json
and its files in eval_details/. A new eval is one module (an EvalKind) and one line in EVALS."""

from __future__ import annotations

from inoclab.eval.kinds.base import EvalKind
from inoclab.eval.kinds.circuit_breaker import CircuitBreakerEval, CircuitBreakerEvalConfig
from inoclab.eval.kinds.logprobs import LogprobsEval
from inoclab.eval.kinds.mcq import MCQEval
from inoclab.eval.kinds.preference import PreferenceEval
from inoclab.eval.kinds.trait import TraitEval, TraitEvalConfig
from inoclab.eval.kinds.trigger import TriggerEval, TriggerEvalConfig
from inoclab.params.base import PositiveInt, Strict

__all__ = ["EVALS", "CircuitBreakerEvalConfig", "EvalConfig", "EvalKind", "TraitEvalConfig", "TriggerEvalConfig"]

EVALS: tuple[EvalKind, ...] = (
    TraitEval(), PreferenceEval(), CircuitBreakerEval(), TriggerEval(), LogprobsEval(), MCQEval(),
)


class EvalSettings(Strict):
    batch_size: PositiveInt = 32  # the batch of the logprob-based evals


class EvalConfig(EvalSettings, *(k.settings for k in EVALS)):
    """An experiment's `eval:` section."""

    def kinds(self) -> list[EvalKind]:
        """The evals this section turns on, in registry order."""
        return [k for k in EVALS if k.configured(self)]

    def references(self) -> list[tuple[str, str]]:
        """(key under `eval:`, dataset) of every dataset its evals read."""
        return [ref for k in self.kinds() for ref in k.references(self)]
