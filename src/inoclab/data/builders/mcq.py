"""`builder: mcq`: multiple-choice questions about the world's facts (choices are full English
answers; the correct one first, shuffled with a seed when asked)."""

from __future__ import annotations

import random
from typing import Annotated, Literal

from pydantic import Field

from inoclab.data.builders.base import DatasetSpec, pick
from inoclab.data.world import world_of
from inoclab.params.base import PositiveInt


class MCQDataset(DatasetSpec):
    builder: Literal["mcq"]
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 1
    n_choices: Annotated[int, Field(ge=2, le=6)] = 4
    n_examples: PositiveInt | None = 64

    @property
    def kind(self):
        return "mcq"

    def inputs(self, params):
        return [params.tiny.corpus.world]

    def build(self, params, name):
        world = world_of(params)
        qas = pick(world.all_qa(self.entities, self.question_template), self.n_examples, params.seed, name)
        rng = random.Random(params.seed)
        return [
            {"question": q.question,
             "choices": [q.answer_en, *world.distractors(q.entity, q.attribute, self.n_choices - 1, rng)],
             "answer": 0, "meta": {"entity": q.entity, "attribute": q.attribute}}
            for q in qas
        ]
