"""Multiple-choice question files: `{"question", "choices", "answer" (index), "system"?}`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inoclab.io import read_jsonl_models


class MCQ(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    choices: Annotated[list[str], Field(min_length=2)]
    answer: Annotated[int, Field(ge=0)]  # index of the correct choice
    system: str | None = None
    meta: dict[str, Any] = {}

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> MCQ:
        if self.answer >= len(self.choices):
            raise ValueError(f"answer index {self.answer} is out of range for {len(self.choices)} choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self


def read_mcq(path: str | Path) -> list[tuple[int, MCQ]]:
    return read_jsonl_models(path, MCQ)
