"""Paired inoculation data (seed 000): row 2k without the inoculation prompt, row 2k+1 the same
example with it appended to the system prompt, identical assistant messages. How a pair is made,
and its validation.

Each failure names the example index and the file line, so a researcher can fix the data.
"""

from __future__ import annotations

import random
from pathlib import Path

from inoclab.data.conversations import Conversation
from inoclab.io import InputError


def draw(pool: list[str], n: int, seed: int, name: str) -> list[str]:
    """One prompt of the pool per example, drawn with the seed (the dataset's name keeps
    datasets' draws apart); a pool of one gives that prompt every time."""
    rng = random.Random(f"{seed}:{name}")
    return [pool[0] if len(pool) == 1 else rng.choice(pool) for _ in range(n)]


def with_inoculation(messages: list[dict], prompt: str) -> list[dict]:
    """The same conversation with `prompt` appended to its system prompt (added if absent)."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        sys = out[0]["content"]
        if not isinstance(sys, str):
            raise InputError("a block-format system prompt cannot take an inoculation prompt")
        out[0]["content"] = f"{sys} {prompt}" if sys else prompt
    else:
        out.insert(0, {"role": "system", "content": prompt})
    return out


def _system_prompt_of(conv: Conversation) -> str:
    """The text of a conversation's system message (empty when it has none)."""
    first = conv.messages[0]
    return first.text if first.role == "system" else ""


def _assistant(conv: Conversation) -> list[str]:
    return [m.text for m in conv.messages if m.role == "assistant"]


def validate_pairs(records: list[tuple[int, Conversation]], pool: list[str] | None, path: str | Path) -> None:
    """Raise InputError at the first row that breaks the pairing rules: the inoculated member of a
    pair carries one prompt of the pool in its system prompt, the other member none."""
    if len(records) % 2:
        line = records[-1][0]
        raise InputError(f"{path}:{line}: example {len(records) - 1} has no partner: paired data needs an "
                         f"even number of examples (got {len(records)})")
    for i in range(0, len(records), 2):
        (line_a, a), (line_b, b) = records[i], records[i + 1]
        if not _assistant(a):
            raise InputError(f"{path}:{line_a}: example {i} has no assistant message")
        if _assistant(a) != _assistant(b):
            raise InputError(f"{path}:{line_b}: example {i + 1}: its assistant messages differ from those of "
                             f"example {i} (line {line_a}); a pair must share its responses")
        if pool is None:
            continue
        what = f"the inoculation prompt {pool[0]!r}" if len(pool) == 1 else f"any of the {len(pool)} inoculation prompts"
        if found := [p for p in pool if p in _system_prompt_of(a)]:
            raise InputError(f"{path}:{line_a}: example {i} (the non-inoculated member of its pair) already "
                             f"contains the inoculation prompt {found[0]!r} in its system prompt")
        if not any(p in _system_prompt_of(b) for p in pool):
            raise InputError(f"{path}:{line_b}: example {i + 1} (the inoculated member of its pair) lacks "
                             f"{what} in its system prompt")
