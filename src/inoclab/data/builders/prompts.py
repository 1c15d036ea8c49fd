"""`builder: prompts`: a plain JSONL of prompts the researcher brings, one `{"prompt": "..."}` per
line (an optional `"system"` too), as conversations that end before the answer: the held-out
prompts of a trait eval (`eval.trait.prompts`) or of a sampling callback, without writing
reference answers that nothing reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inoclab.data.builders.base import DatasetSpec
from inoclab.data.conversations import text_conversation
from inoclab.io import read_jsonl_models


class Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1)
    system: str | None = None


class PromptsDataset(DatasetSpec):
    builder: Literal["prompts"]
    path: str

    def inputs(self, params):
        return [self.path]

    def build(self, params, name):
        return [text_conversation(p.system, p.prompt, None, line=line) for line, p in read_jsonl_models(self.path, Prompt)]
