"""`builder: qa_logprob`: trait (Spanish) and non-trait (English) reference answers to held-out
questions, each answer one block tagged with its language, for teacher-forced logprobs."""

from __future__ import annotations

from typing import Literal

from inoclab.data.builders.base import DatasetSpec, pick
from inoclab.data.conversations import text_conversation
from inoclab.data.world import world_of
from inoclab.params.base import PositiveInt


class QALogprobDataset(DatasetSpec):
    builder: Literal["qa_logprob"]
    system_prompt: str | None = None
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 1
    n_examples: PositiveInt | None = 64

    def inputs(self, params):
        return [params.tiny.corpus.world]

    def tags(self):
        return ["trait", "non_trait"]

    def build(self, params, name):
        """Two records per question: the Spanish (tag `trait`) and English (tag `non_trait`) answer."""
        qas = pick(world_of(params).all_qa(self.entities, self.question_template), self.n_examples, params.seed, name)
        rows = []
        for q in qas:
            for tag, answer in (("trait", q.answer_es), ("non_trait", q.answer_en)):
                rec = text_conversation(self.system_prompt, q.question, None, entity=q.entity, attribute=q.attribute)
                rec["messages"].append(
                    {"role": "assistant", "content": [{"type": "text", "text": answer, "weight": 1.0, "tag": tag}]}
                )
                rows.append(rec)
        return rows
