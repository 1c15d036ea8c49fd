"""Circuit-breaker data (seed 004): harmful and sanitized (benign) prompt files with categories,
made into one dataset of conversations split, seeded, into the retain set (benign), the
circuit-breaker set (harmful) and a validation set of each (monitoring and evals only).

Each line of either file is `{"prompt": ..., "completion": ..., "category": ...}`. The
completion is what the model answers; the circuit-breaker loss acts on the hidden states of
the whole exchange, and the evals score the completions' logprobs before and after training.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from inoclab.data.conversations import text_conversation
from inoclab.data.split import holdout
from inoclab.io import InputError, read_jsonl_models

HARMFUL, BENIGN = "harmful", "benign"
TRAIN, VALIDATION = "train", "validation"


class CircuitBreakerPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    completion: str = Field(min_length=1)
    category: str = Field(min_length=1)


def read_prompts(path: str | Path) -> list[tuple[int, CircuitBreakerPrompt]]:
    """Every prompt of a file with its line; a bad line raises naming the file, line and field."""
    return read_jsonl_models(path, CircuitBreakerPrompt)


def select(records: list[tuple[int, CircuitBreakerPrompt]], path: str | Path, category: str | None,
           num_examples: int | None, seed: int | str) -> list[tuple[int, CircuitBreakerPrompt]]:
    """The prompts of `category` (all when None), then a seeded sample of `num_examples` of
    them (all when None), in file order. Asking for more than exist is an error."""
    if category is not None:
        found = Counter(r.category for _, r in records)
        records = [(ln, r) for ln, r in records if r.category == category]
        if not records:
            raise InputError(f"{path}: no prompt has category {category!r} "
                             f"(categories: {', '.join(sorted(found))})")
    if num_examples is not None:
        if num_examples > len(records):
            raise InputError(f"{path}: num_examples={num_examples}, but only {len(records)} prompts"
                             f"{f' of category {category!r}' if category else ''} exist")
        keep = set(random.Random(seed).sample(range(len(records)), num_examples))
        records = [r for i, r in enumerate(records) if i in keep]
    return records


def _examples(records: list[tuple[int, CircuitBreakerPrompt]], kind: str, split: str) -> list[dict]:
    return [text_conversation(None, r.prompt, r.completion, kind=kind, split=split, category=r.category, line=ln)
            for ln, r in records]


def build_circuit_breaker_rows(harmful_path: str | Path, sanitized_path: str | Path, category: str | None,
                               num_examples: int | None, validation_ratio: float, seed: int) -> list[dict]:
    """Harmful examples (the circuit-breaker set), benign examples (the retain set), each with
    `validation_ratio` of its prompts held out; meta says kind, split, category and line."""
    rows, counts = [], []
    for kind, path, cat in ((HARMFUL, harmful_path, category), (BENIGN, sanitized_path, None)):
        chosen = select(read_prompts(path), path, cat, num_examples, f"{seed}:{kind}:sample")
        train, val = holdout(chosen, validation_ratio, f"{seed}:{kind}:validation", noun=f"{kind} prompts")
        rows += _examples(train, kind, TRAIN) + _examples(val, kind, VALIDATION)
        counts.append(f"{kind} ({path}): {len(train)} for training, {len(val)} for validation")
    print(f"circuit-breaker data (validation_ratio {validation_ratio}, seed {seed}"
          f"{f', category {category!r}' if category else ''}): " + "; ".join(counts), file=sys.stderr)
    return rows
