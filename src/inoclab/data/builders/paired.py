"""`builder: paired`: the paired inoculation dataset of seed 000. Row 2k is an example of
another dataset (`source`), row 2k+1 the same example with the inoculation prompt appended to
its system prompt; the assistant messages of a pair are identical."""

from __future__ import annotations

from typing import Literal

from inoclab import paths
from inoclab.data.builders.base import DatasetSpec
from inoclab.data.conversations import read_conversations
from inoclab.data.paired import with_inoculation


class PairedDataset(DatasetSpec):
    builder: Literal["paired"]
    source: str  # name of another dataset (conversations) to pair
    inoculation_prompt: str

    def sources(self):
        return [self.source]

    def build(self, params, name):
        rows = []
        for _, conv in read_conversations(paths.dataset(self.source)):
            rec = conv.model_dump(exclude_defaults=True)
            rows.append(rec)
            rows.append({**rec, "messages": with_inoculation(rec["messages"], self.inoculation_prompt)})
        return rows
