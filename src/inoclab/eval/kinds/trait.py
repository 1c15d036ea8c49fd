"""`eval.trait`: trait expression on held-out prompts without and with the inoculation prompt,
and with any further test-time system prompts (eval/inoculation.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import field_validator

from inoclab import paths
from inoclab.data.builders.qa_logprob import QALogprobDataset
from inoclab.eval.kinds.base import EvalKind, require
from inoclab.measures import Measure
from inoclab.measures.spanish import SpanishMeasure
from inoclab.params.base import NAME, PositiveInt, Strict
from inoclab.params.evals import PROMPT_VARIANTS

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.eval.kinds import EvalConfig


class TraitEvalConfig(Strict):
    """Trait expression on held-out prompts, with and without the inoculation prompt at test time:
    the rate at which greedy generations show the trait (scored by `measure`) and the logprob of
    trait versus non-trait reference answers.

    `test_prompts` adds test-time system prompts (a negated or irrelevant instruction, a
    paraphrase, a keyword alone): the leaky-backdoor grid, which shows whether the inoculation
    prompt became a trigger. `also` scores the same generations with more measures, each with
    its rate and its agreement with `measure`."""

    prompts: str  # a conversations dataset: its prompts are used, its answers ignored
    references: str | None = None  # a qa_logprob dataset: answers tagged trait / non_trait
    measure: Measure = SpanishMeasure(kind="spanish")
    also: dict[str, Measure] = {}
    inoculation_prompt: str
    test_prompts: dict[str, str] = {}  # name -> a test-time system prompt
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64

    @field_validator("also", "test_prompts")
    @classmethod
    def _names(cls, value: dict) -> dict:
        taken = {*PROMPT_VARIANTS, *cls.model_fields, "trait"}  # eval.json's keys beside them
        for name in value:
            if not NAME.match(name) or name in taken:
                raise ValueError(f"{name!r} is not a usable name (letters, digits, _ and -; none of "
                                 f"{', '.join(sorted(taken))})")
        return value

    def variants(self) -> dict[str, str | None]:
        """Each test-time condition: its name and the system prompt it adds (None: none)."""
        return {PROMPT_VARIANTS[0]: None, PROMPT_VARIANTS[1]: self.inoculation_prompt, **self.test_prompts}

    def measures(self) -> dict[str, Measure]:
        return {"trait": self.measure, **self.also}


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
        return [str(paths.dataset(d)) for _, d in self.references(e)] + [
            f for m in e.trait.measures().values() for f in m.inputs(params)]

    def components(self, e: EvalConfig) -> list:
        return list(e.trait.measures().values())

    def run(self, params: Params, name: str, model, tokenizer, e: EvalConfig, details: Path) -> dict:
        from inoclab.eval.inoculation import trait_eval
        from inoclab.io import write_jsonl

        summary, records = trait_eval(params, model, tokenizer, e.trait)
        for fname, recs in records.items():
            write_jsonl(details / fname, recs)
        return summary
