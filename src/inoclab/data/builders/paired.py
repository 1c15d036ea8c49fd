"""`builder: paired`: the paired inoculation dataset of seed 000. Row 2k is an example of
another dataset (`source`), row 2k+1 the same example with the inoculation prompt appended to
its system prompt; the assistant messages of a pair are identical. With a pool of prompts, each
pair draws one (seeded), recorded in the inoculated row's meta."""

from __future__ import annotations

from typing import Literal

from inoclab import paths
from inoclab.data.builders.base import DatasetSpec
from inoclab.data.conversations import read_conversations
from inoclab.data.paired import draw, with_inoculation
from inoclab.params.base import PromptPool, pool_of


class PairedDataset(DatasetSpec):
    builder: Literal["paired"]
    source: str  # name of another dataset (conversations) to pair
    inoculation_prompt: PromptPool

    def sources(self):
        return [self.source]

    def build(self, params, name):
        rows = []
        source = read_conversations(paths.dataset(self.source))
        pool = pool_of(self.inoculation_prompt)
        for (_, conv), prompt in zip(source, draw(pool, len(source), params.seed, name), strict=True):
            rec = conv.model_dump(exclude_defaults=True)
            rows.append(rec)
            meta = {"meta": {**rec.get("meta", {}), "inoculation_prompt": prompt}} if len(pool) > 1 else {}
            rows.append({**rec, "messages": with_inoculation(rec["messages"], prompt), **meta})
        return rows
