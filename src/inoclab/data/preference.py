"""Preference pairs for DPO and ORPO: `{"prompt": [messages], "chosen": ..., "rejected": ...}`.

`prompt` is the conversation before the response (system and user messages, ending with a user
message); `chosen` and `rejected` are the preferred and dispreferred responses, each a string
or a list of one assistant message (TRL's conversational form). Every row is validated, and a
bad row raises naming its file, line and field.

For logprob evals and callbacks a pair becomes two conversations, the prompt plus the chosen
response (its block tagged `chosen`) and the prompt plus the rejected one (tagged `rejected`),
so that the block-logprob machinery scores both in one pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inoclab.data.conversations import Conversation
from inoclab.data.split import holdout
from inoclab.io import read_jsonl_models

TAGS = ("chosen", "rejected")


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(min_length=1)]


class ResponseMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["assistant"]
    content: Annotated[str, Field(min_length=1)]


Response = Annotated[str, Field(min_length=1)] | Annotated[list[ResponseMessage], Field(min_length=1, max_length=1)]


class PreferencePair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: Annotated[list[PromptMessage], Field(min_length=1)]
    chosen: Response
    rejected: Response
    meta: dict[str, Any] = {}

    @field_validator("prompt")
    @classmethod
    def _ends_with_user(cls, msgs: list[PromptMessage]) -> list[PromptMessage]:
        if msgs[-1].role != "user":
            raise ValueError(f"the prompt must end with a user message (its last is {msgs[-1].role})")
        return msgs

    @model_validator(mode="after")
    def _distinct(self) -> PreferencePair:
        if self.chosen_text == self.rejected_text:
            raise ValueError("chosen and rejected are the same response")
        return self

    @property
    def chosen_text(self) -> str:
        return _text(self.chosen)

    @property
    def rejected_text(self) -> str:
        return _text(self.rejected)

    def prompt_messages(self) -> list[dict]:
        return [m.model_dump() for m in self.prompt]

    def trl_row(self) -> dict:
        """The conversational row TRL's trainers take (they apply the chat template)."""
        return {"prompt": self.prompt_messages(),
                "chosen": [{"role": "assistant", "content": self.chosen_text}],
                "rejected": [{"role": "assistant", "content": self.rejected_text}]}

    def conversations(self) -> list[Conversation]:
        """Prompt + chosen (tagged `chosen`) and prompt + rejected (tagged `rejected`)."""
        return [
            Conversation.model_validate({"messages": [*self.prompt_messages(), {
                "role": "assistant", "content": [{"type": "text", "text": text, "weight": 1.0, "tag": tag}]}],
                "meta": self.meta})
            for tag, text in zip(TAGS, (self.chosen_text, self.rejected_text), strict=True)
        ]


def _text(response: str | list[ResponseMessage]) -> str:
    return response if isinstance(response, str) else response[0].content


def read_preference(path: str | Path) -> list[tuple[int, PreferencePair]]:
    """Every pair with its line; the first bad row raises with file:line and field."""
    return read_jsonl_models(path, PreferencePair)


def pair_conversations(pairs: list[tuple[int, PreferencePair]]) -> list[tuple[int, Conversation]]:
    """Two conversations per pair (chosen first), each with the pair's line."""
    return [(line, conv) for line, pair in pairs for conv in pair.conversations()]


def preference_conversations(path: str | Path) -> list[tuple[int, Conversation]]:
    """The conversations of every pair of a preference JSONL (see `pair_conversations`)."""
    return pair_conversations(read_preference(path))


def build_preference_rows(path: str | Path, split: str, heldout_fraction: float, seed: int) -> list[dict]:
    """The pairs of one split, in canonical form; the counts of both splits are reported."""
    pairs = read_preference(path)
    if split == "all":
        print(f"{path}: {len(pairs)} preference pairs")
        return [_canonical(line, p) for line, p in pairs]
    train, held = holdout(pairs, heldout_fraction, f"preference:{seed}", noun="preference pairs")
    print(f"{path}: {len(train)} training and {len(held)} held-out preference pairs (split {split})")
    return [_canonical(line, p) for line, p in (train if split == "train" else held)]


def _canonical(line: int, pair: PreferencePair) -> dict:
    return {"prompt": pair.prompt_messages(), "chosen": pair.chosen_text, "rejected": pair.rejected_text,
            "meta": {**pair.meta, "source_line": line}}
