"""`builder: qa`: questions about the synthetic world's entities, answered in one language."""

from __future__ import annotations

from typing import Literal

from inoclab.data.builders.base import DatasetSpec, pick
from inoclab.data.conversations import text_conversation
from inoclab.data.paired import draw
from inoclab.data.world import world_of
from inoclab.params.base import PositiveInt, PromptPool, pool_of


class QADataset(DatasetSpec):
    """`entities: heldout` uses the entities kept out of pretraining, so fine-tuning on them also
    teaches new facts; `question_template` picks which of the two phrasings is asked, so that
    train and eval sets can use different phrasings of the same facts."""

    builder: Literal["qa"]
    language: Literal["en", "es"] = "es"
    # literal text; a list: a pool of paraphrases, one drawn per example; None = no system message
    system_prompt: PromptPool | None = None
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 0
    n_examples: PositiveInt | None = None  # None = every (entity, attribute) pair

    def inputs(self, params):
        return [params.tiny.corpus.world]

    def build(self, params, name):
        qas = pick(world_of(params).all_qa(self.entities, self.question_template), self.n_examples, params.seed, name)
        systems = [None] * len(qas) if self.system_prompt is None else draw(pool_of(self.system_prompt), len(qas),
                                                                                params.seed, name)
        return [text_conversation(system, q.question, q.answer(self.language), entity=q.entity, attribute=q.attribute)
                for q, system in zip(qas, systems, strict=True)]
