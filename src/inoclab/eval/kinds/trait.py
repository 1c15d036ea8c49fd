"""`eval.trait`: trait expression on held-out prompts without and with the inoculation prompt
(eval/inoculation.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from inoclab import paths
from inoclab.data.builders.qa_logprob import QALogprobDataset
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.params.base import PositiveInt, Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class TraitEvalConfig(Strict):
    """Trait expression on held-out prompts, with and without the inoculation prompt at test time:
    the rate at which greedy generations show the trait (scored by `rule`) and the logprob of
    trait versus non-trait reference answers."""

    prompts: str  # a conversations dataset: its prompts are used, its answers ignored
    references: str | None = None  # a qa_logprob dataset: answers tagged trait / non_trait
    rule: Literal["spanish", "capitals"] = "spanish"
    inoculation_prompt: str
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class TraitSettings(Strict):
    trait: TraitEvalConfig | None = None


class TraitEval(EvalKind):
    settings = TraitSettings
    section = "trait"

    def references(self, e: EvalConfig) -> list[tuple[str, str]]:
        t = e.trait
        return [("trait.prompts", t.prompts)] + ([("trait.references", t.references)] if t.references else [])

    def check(self, params: Params, key: str, exp: ExperimentConfig) -> None:
        t = exp.eval.trait
        if params.is_mcq(t.prompts):
            require(params, f"{key}.eval.trait.prompts", t.prompts, "a conversations dataset (it is MCQ)", False)
        if t.references:
            require(params, f"{key}.eval.trait.references", t.references, "a dataset with builder qa_logprob",
                    isinstance(params.datasets[t.references], QALogprobDataset))

    def inputs(self, params: Params, e: EvalConfig) -> list[str]:
        return [str(paths.dataset(d)) for _, d in self.references(e)]

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.eval.inoculation import trait_eval
        from inoclab.io import write_jsonl

        summary, records = trait_eval(params, model, tokenizer, e.trait)
        for fname, recs in records.items():
            write_jsonl(details / fname, recs)
        return summary
