"""`eval.trigger`: held-out questions with and without the trigger, for the final model and each
epoch checkpoint (eval/trigger.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.data.builders.trigger import TriggerDataset
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import ParamsError, PositiveInt, Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig

COMPARE = "compare.jsonl"  # in eval_details/: each question with and without the trigger, both responses


class TriggerEvalConfig(Strict):
    """The triggered-response comparison: held-out questions with and without the trigger."""

    heldout: str  # a dataset with builder trigger and split heldout
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64
    checkpoints: bool = True  # also measure every epoch checkpoint (the curve in eval.json; needs keep_checkpoints)


class TriggerSettings(Strict):
    trigger: TriggerEvalConfig | None = None


class TriggerEval(EvalKind):
    settings = TriggerSettings
    section = "trigger"

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [("trigger.heldout", e.trigger.heldout)]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        name = exp.eval.trigger.heldout
        ds = params.datasets[name]
        require(params, f"{key}.eval.trigger.heldout", name, "a dataset with builder trigger and split heldout",
                isinstance(ds, TriggerDataset) and ds.split == "heldout")
        if exp.eval.trigger.checkpoints and not params.merged_training(exp).keep_checkpoints:
            raise ParamsError(f"{key}.eval.trigger.checkpoints", "the epoch curve reads the run's checkpoints, which "
                              f"a finished run drops: set {key}.training.keep_checkpoints: true, or checkpoints: false")

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.dataset(e.trigger.heldout))]

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.eval.trigger import trigger_eval
        from inoclab.io import write_jsonl

        summary, records = trigger_eval(params, name, model, tokenizer, e.trigger)
        write_jsonl(details / COMPARE, records)
        return summary
