"""`builder: file`: a conversations (or MCQ) JSONL the user brings, in either format of the spec;
validated line by line and written in canonical form."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from inoclab.data.builders.base import DatasetSpec
from inoclab.data.conversations import normalize, read_conversations
from inoclab.data.mcq import read_mcq


class FileDataset(DatasetSpec):
    builder: Literal["file"]
    path: str
    format: Literal["conversations", "mcq"] = "conversations"

    @property
    def kind(self):
        return self.format

    def inputs(self, params):
        return [self.path]

    def tags(self):
        """The tags its assistant blocks carry (the file is read when the stage graph is built)."""
        if not Path(self.path).exists():
            return ["untagged"]
        tags = {b.tag or "untagged" for _, conv in read_conversations(self.path) for m in normalize(conv, True)
                if m.role == "assistant" for b in m.blocks}
        return sorted(tags) or ["untagged"]

    def build(self, params, name):
        reader = read_mcq if self.format == "mcq" else read_conversations
        return [rec.model_dump(exclude_defaults=True) for _, rec in reader(Path(self.path))]
