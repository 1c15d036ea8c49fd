"""What every eval is: its keys under an experiment's `eval:`, the datasets it reads (and of
which kind), its own rules, the files it reads, and how it measures a trained model into its
section of eval.json and its files in eval_details/.

Evals import their implementation inside `run`, so that loading params.yaml stays light; the
eval stage's code deps follow those imports for the experiment's own evals (workflow.stage_code).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from inoclab.params.base import ParamsError, Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class EvalKind:
    settings: ClassVar[type[Strict]]  # its keys under `eval:`
    section: ClassVar[str]  # its section of eval.json (and the key that turns it on)

    def configured(self, e: EvalConfig) -> bool:
        return bool(getattr(e, self.section))

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        """(key under `eval:`, dataset name) of every dataset it reads."""
        return []

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        """Rules beyond the datasets existing: raise ParamsError naming the key."""

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        """The files the eval stage reads for it."""
        return []

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> Any:
        """Its section of eval.json; its detail files go into `details`."""
        raise NotImplementedError


def require(params: Params, where: str, dataset: str, wanted: str, ok: bool) -> None:
    """One error naming the key when a referenced dataset is not of the kind an eval reads."""
    if not ok:
        raise ParamsError(where, f"{dataset!r} is not {wanted}")
