"""`judge`: a causal LM asked a yes/no question about each response. The score is
P(yes) / (P(yes) + P(no)) of the first token of its answer, after the chat template's generation
prompt: one batched forward pass, the LM head at the last position only. Any model the project
loads can judge: `tiny`, `smollm2-135m`, a local folder, or a hub id on a GPU cluster."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from inoclab.io import InputError
from inoclab.measures.base import MeasureConfig
from inoclab.params.base import PositiveInt

PLACEHOLDERS = {"response", "prompt"}  # the response, and the last user message it answers


def last_user(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


class JudgeMeasure(MeasureConfig):
    kind: Literal["judge"]
    model: str
    template: str  # the question, with {response} (and optionally {prompt}); literal braces doubled
    yes: str = "Yes"
    no: str = "No"
    batch_size: PositiveInt = 32

    @model_validator(mode="after")
    def _template(self):
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
        except ValueError as e:
            raise ValueError(f"template: {e} (write literal braces as {{{{ and }}}})") from None
        if "response" not in fields:
            raise ValueError("template: has no {response} placeholder, so the judge would not see the response")
        if unknown := fields - PLACEHOLDERS:
            raise ValueError(f"template: unknown placeholder(s) {sorted(unknown)} (known: {sorted(PLACEHOLDERS)})")
        if self.yes == self.no:
            raise ValueError("yes and no are the same answer")
        return self

    def models(self):
        return [self.model]

    def inputs(self, params):
        p = params.for_model(self.model)
        ref = p.base_model_ref
        return [ref] if p.is_tiny or p.is_embedded or Path(ref).exists() else []

    def load(self, params):
        from inoclab.backends import backend_for
        from inoclab.models.judge import yes_no_probability

        p = params.for_model(self.model)
        model, tokenizer = backend_for(p).load(p.base_model_ref)
        ids = {a: tokenizer(a, add_special_tokens=False)["input_ids"] for a in (self.yes, self.no)}
        if not ids[self.yes] or not ids[self.no] or ids[self.yes][0] == ids[self.no][0]:
            raise InputError(f"judge {self.model}: the answers {self.yes!r} and {self.no!r} must start with "
                             f"different tokens (got {ids[self.yes][:1]} and {ids[self.no][:1]})")

        def score(responses, prompts):
            questions = [[{"role": "user", "content": self.template.format(response=r, prompt=last_user(p))}]
                         for r, p in zip(responses, prompts, strict=True)]
            return yes_no_probability(model, tokenizer, questions, ids[self.yes][0], ids[self.no][0],
                                      self.batch_size)
        return score
