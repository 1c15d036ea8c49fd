"""What every dataset builder is: its entry under `datasets:` in params.yaml, the files it reads,
how its output is read downstream, and the rows it builds into results/datasets/<name>.jsonl.

Builders never drop or split data silently: sizes are what params say, and a request for more
examples than exist is an error.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal

from inoclab.io import InputError
from inoclab.params.base import Strict

if TYPE_CHECKING:
    from inoclab.config import Params

# how stages read a built dataset: chat conversations (tokenized), multiple-choice questions
# (scored directly), or preference pairs (two tagged rows per pair when tokenized)
Form = Literal["conversations", "mcq", "preference"]


class DatasetSpec(Strict):
    """One entry under `datasets:`; `builder` names the subclass."""

    builder: str

    @property
    def kind(self) -> Form:
        return "conversations"

    def inputs(self, params: Params) -> list[str]:
        """The files outside results/ the build reads (beyond the datasets of `sources`)."""
        return []

    def sources(self) -> list[str]:
        """Other declared datasets this one is built from."""
        return []

    def tags(self) -> list[str]:
        """The block tags of its assistant answers (the columns of a logprob curve)."""
        return ["untagged"]

    def build(self, params: Params, name: str) -> list[dict]:
        raise NotImplementedError

    def empty_because(self) -> tuple[str, str]:
        """When a build comes out empty: the key under the dataset's entry to point at ('' for
        the entry) and why (a split builder: the split its held-out fraction leaves empty)."""
        return "", ""


def split_empty_because(split: str, heldout_fraction: float, source: str) -> tuple[str, str]:
    """`DatasetSpec.empty_because` of a builder that splits `source` into train and heldout."""
    if split == "heldout" and heldout_fraction == 0:
        return "heldout_fraction", "a held-out fraction of 0 leaves the heldout split empty"
    return "", f"{source} holds no records"


def pick(items: list, n: int | None, seed: int, name: str) -> list:
    """`n` items drawn with `seed` (all of them for None); more than exist is an error."""
    if n is None:
        return items
    if n > len(items):
        raise InputError(f"datasets.{name}.n_examples={n}: only {len(items)} questions exist")
    return random.Random(seed).sample(items, n)
