"""Conversation records in both formats of the spec, and their normalisation to weighted blocks.

Old format: `{"messages": [{"role": "user", "content": "..."}, ...]}`.
Block format: content is a list of `{"type": "text", "text": "...", "weight": w}` blocks
(weights may be negative; an optional `tag` names the block for logprob curves).

Both normalise to a list of messages, each a list of blocks with a numeric weight. A block
without a weight, and every old-format message, gets the role default: assistant 1, others 0
when `train_on_responses_only`, else 1 for every role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from inoclab.io import read_jsonl_models

Role = Literal["system", "user", "assistant"]


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"] = "text"
    text: str
    weight: StrictInt | StrictFloat | None = None
    tag: str | None = None

    @field_validator("weight")
    @classmethod
    def _finite(cls, w: float | None) -> float | None:
        if w is not None and not math.isfinite(w):
            raise ValueError("weight must be a finite number")
        return w


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str | Annotated[list[Block], Field(min_length=1)]

    @property
    def text(self) -> str:
        """The content as one string, whichever format it came in."""
        return self.content if isinstance(self.content, str) else "".join(b.text for b in self.content)


class Conversation(BaseModel):
    """One JSONL record. `meta` carries free-form provenance and is ignored by training."""

    model_config = ConfigDict(extra="forbid")
    messages: Annotated[list[Message], Field(min_length=1)]
    meta: dict[str, Any] = {}


@dataclass(frozen=True)
class WBlock:
    text: str
    weight: float
    tag: str | None = None


@dataclass(frozen=True)
class WMessage:
    role: str
    blocks: tuple[WBlock, ...]

    @property
    def content(self) -> str:
        return "".join(b.text for b in self.blocks)


def default_weight(role: str, train_on_responses_only: bool) -> float:
    return 1.0 if (role == "assistant" or not train_on_responses_only) else 0.0


def normalize(conv: Conversation, train_on_responses_only: bool) -> list[WMessage]:
    """Both formats to weighted blocks (the old format becomes one block per message)."""
    out = []
    for m in conv.messages:
        dw = default_weight(m.role, train_on_responses_only)
        if isinstance(m.content, str):
            blocks = (WBlock(m.content, dw),)
        else:
            blocks = tuple(
                WBlock(b.text, float(b.weight) if b.weight is not None else dw, b.tag)
                for b in m.content
            )
        out.append(WMessage(m.role, blocks))
    return out


def read_conversations(path: str | Path) -> list[tuple[int, Conversation]]:
    """Every record of a conversations JSONL with its line number; a bad line raises."""
    return read_jsonl_models(path, Conversation)


def text_conversation(system: str | None, user: str, assistant: str | None, **meta: Any) -> dict:
    """An old-format record (plain string content), the form the builders write."""
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": user})
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return {"messages": messages, "meta": meta} if meta else {"messages": messages}
