"""`builder: preference`: preference pairs for DPO and ORPO."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from inoclab.data.builders.base import DatasetSpec, split_empty_because
from inoclab.data.preference import build_preference_rows


class PreferenceDataset(DatasetSpec):
    """Pairs from a JSONL of `{"prompt": [messages], "chosen", "rejected"}` (each response a
    string or one assistant message), split seeded into `train` and `heldout` pairs (`all`: every
    pair); the build reports both counts. The shipped file asks questions about the tiny model's
    world and prefers the Spanish answer (chosen) to the English one (rejected)."""

    builder: Literal["preference"]
    path: str = "data/preference/spanish.jsonl"
    split: Literal["train", "heldout", "all"] = "train"
    heldout_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.25

    @property
    def kind(self):
        return "preference"

    def inputs(self, params):
        return [self.path]

    def tags(self):
        return ["chosen", "rejected"]

    def empty_because(self):
        return split_empty_because(self.split, self.heldout_fraction, self.path)

    def build(self, params, name):
        return build_preference_rows(self.path, self.split, self.heldout_fraction, params.seed)
