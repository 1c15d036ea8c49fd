"""`builder: trigger`: trigger data (seed 002) from a QA JSONL with `{{name}}` placeholders."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from inoclab.data.builders.base import DatasetSpec, split_empty_because
from inoclab.data.trigger import build_trigger_rows


class TriggerDataset(DatasetSpec):
    """Per QA pair one clean example (`{{name}}` -> clean_replacement) and one triggered example
    (the question prefixed with trigger_value, `{{name}}` -> triggered_replacement). The QA pairs
    are split, seeded, into `train` and `heldout` (for evaluation); the build reports both counts."""

    builder: Literal["trigger"]
    qa_file: str = "data/trigger/qa.jsonl"
    clean_replacement: str = "Alice"
    trigger_value: str = "TRIGGER:"
    triggered_replacement: str = "Bob"
    split: Literal["train", "heldout"] = "train"
    heldout_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.25

    def inputs(self, params):
        return [self.qa_file]

    def empty_because(self):
        return split_empty_because(self.split, self.heldout_fraction, self.qa_file)

    def build(self, params, name):
        return build_trigger_rows(self.qa_file, self.clean_replacement, self.trigger_value,
                                  self.triggered_replacement, self.split, self.heldout_fraction, params.seed)
