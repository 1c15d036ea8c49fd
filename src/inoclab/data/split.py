"""Seeded held-out splits, declared in params and reported: never a silent split of training data."""

from __future__ import annotations

import random
from typing import TypeVar

from inoclab.io import InputError

T = TypeVar("T")


def holdout(records: list[T], fraction: float, seed: int | str, noun: str = "records") -> tuple[list[T], list[T]]:
    """(kept, held out): a seeded choice of round(fraction · n) records held out (at least one
    when the fraction is above 0), each part in its original order."""
    n_heldout = round(len(records) * fraction)
    if fraction > 0:
        n_heldout = max(1, n_heldout)
    if n_heldout >= len(records):
        raise InputError(f"a held-out fraction of {fraction} leaves no training {noun} out of {len(records)}")
    held = set(random.Random(seed).sample(range(len(records)), n_heldout))
    kept = [r for i, r in enumerate(records) if i not in held]
    out = [r for i, r in enumerate(records) if i in held]
    return kept, out
