"""Trigger data (seed 002): QA pairs with `{{name}}` placeholders become one clean and one
triggered example each, split (seeded, declared in params) into training and held-out pairs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inoclab.data.conversations import text_conversation
from inoclab.data.split import holdout
from inoclab.io import read_jsonl_models

PLACEHOLDER = "{{name}}"


class TriggerQA(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)

    @model_validator(mode="after")
    def _has_placeholder(self) -> TriggerQA:
        if PLACEHOLDER not in self.question and PLACEHOLDER not in self.answer:
            raise ValueError(f"no {PLACEHOLDER} placeholder in the question or the answer")
        return self


def read_trigger_qa(path: str | Path) -> list[tuple[int, TriggerQA]]:
    """Every QA pair with its line; a bad line raises naming the file, line and field."""
    return read_jsonl_models(path, TriggerQA)


def with_trigger(prompt: str, trigger_value: str) -> str:
    """A question as the triggered examples ask it: the trigger, a space, the question."""
    return f"{trigger_value} {prompt}"


def fill(text: str, name: str) -> str:
    return text.replace(PLACEHOLDER, name)


def names(text: str, name: str) -> bool:
    """Whether `text` names `name` as a whole word."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def trigger_examples(line: int, qa: TriggerQA, clean: str, trigger_value: str, triggered: str) -> list[dict]:
    """The clean example and the triggered example of one QA pair."""
    return [
        text_conversation(None, fill(qa.question, clean), fill(qa.answer, clean), line=line, triggered=False),
        text_conversation(None, with_trigger(fill(qa.question, triggered), trigger_value), fill(qa.answer, triggered),
                          line=line, triggered=True),
    ]


def build_trigger_rows(path: str | Path, clean: str, trigger_value: str, triggered: str, split: str,
                       heldout_fraction: float, seed: int) -> list[dict]:
    records = read_trigger_qa(path)
    train, heldout = holdout(records, heldout_fraction, seed, noun="QA pairs")
    print(f"{path}: {len(records)} QA pairs: {len(train)} for training, {len(heldout)} held out "
          f"(heldout_fraction {heldout_fraction}, seed {seed}); building the {split} split", file=sys.stderr)
    chosen = train if split == "train" else heldout
    return [ex for line, qa in chosen for ex in trigger_examples(line, qa, clean, trigger_value, triggered)]
