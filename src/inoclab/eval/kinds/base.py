"""What every eval is: its keys under an experiment's `eval:`, the datasets it reads (and of
which kind), its own rules, the files it reads, and how it measures a trained model into its
section of eval.json and its files in eval_details/.

Evals import their implementation inside `run`, so that loading params.yaml stays light; the
eval stage's code deps follow those imports for the experiment's own evals (workflow.stage_code).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from inoclab import paths
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

    def components(self, e: EvalConfig) -> list:
        """The components it runs besides itself (its measures): their imports are code deps."""
        return []

    def check_data(self, params: Params, e: EvalConfig) -> None:
        """Before the model is loaded: raise InputError when its data has nothing to score."""

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> Any:
        """Its section of eval.json; its detail files go into `details`."""
        raise NotImplementedError


class PerDatasetEval(EvalKind):
    """An eval whose key under `eval:` is a list of dataset names, measured one by one into
    `{dataset: summary}`; eval.json has the section even when the list is empty when `always`."""

    reads: ClassVar[tuple[str, ...]]  # the dataset kinds it reads (DatasetSpec.kind)
    tokenized: ClassVar[bool] = True  # reads the tokenized rows, else the dataset's JSONL
    always: ClassVar[bool] = False

    def configured(self, e: EvalConfig) -> bool:
        return self.always or bool(getattr(e, self.section))

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        return [(self.section, d) for d in getattr(e, self.section)]

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        for d in getattr(exp.eval, self.section):
            if (form := params.datasets[d].kind) not in self.reads:
                raise ParamsError(f"{key}.eval.{self.section}", f"{d!r} is a dataset of {form} (eval.{self.section} "
                                  f"reads {' or '.join(self.reads)})")

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.tokenized(params.model_slug, d) if self.tokenized else paths.dataset(d))
                for d in getattr(e, self.section)]

    def check_data(self, params: Params, e: EvalConfig) -> None:
        """Tokenized data is scored at its block tokens: each dataset needs one after a first token."""
        if not self.tokenized:
            return  # the JSONL forms: their builders refuse to build an empty dataset
        from inoclab.io import InputError
        from inoclab.tokenize import describe_dataset, read_tokenized, scored_tokens

        for d in getattr(e, self.section):
            tokenized = paths.tokenized(params.model_slug, d)
            rows = read_tokenized(tokenized)
            if not any(scored_tokens(r) for r in rows):
                raise InputError(f"eval.{self.section}: {describe_dataset(d, paths.dataset(d), tokenized)} "
                                 f"has nothing to score: none of its {len(rows)} example(s) has a block token after "
                                 "the first")

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        return {d: self.measure(params, model, tokenizer, e, d, details) for d in getattr(e, self.section)}

    def measure(self, params: Params, model, tokenizer, e: EvalConfig, dataset: str, details: Path) -> dict:
        """The summary of one dataset; its detail files go into `details`."""
        raise NotImplementedError


def require(params: Params, where: str, dataset: str, wanted: str, ok: bool) -> None:
    """One error naming the key when a referenced dataset is not of the kind an eval reads."""
    if not ok:
        raise ParamsError(where, f"{dataset!r} is not {wanted}")
