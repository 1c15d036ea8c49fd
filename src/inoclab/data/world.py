"""The synthetic world: invented entities with seeded attribute values, rendered as QA.

Everything the tiny model knows, and every default dataset, comes from here, so the corpus and
the fine-tuning data agree on the facts. The world is a pure function of `data/tiny/world.yaml`
and a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from inoclab.io import InputError, describe_validation_error

INSTRUCTION_KINDS = ("none", "neutral", "english", "spanish", "capitals")


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str
    es: str


class _Attribute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questions: list[str]
    answer: _Value
    values: list[_Value] | str  # the string "entities" = another entity


class _WorldFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entities: list[str]
    attributes: dict[str, _Attribute]
    system_prompts: dict[str, list[str]]


@dataclass(frozen=True)
class QA:
    entity: str
    attribute: str
    question: str
    answer_en: str
    answer_es: str

    def answer(self, language: str) -> str:
        return self.answer_es if language == "es" else self.answer_en


class World:
    def __init__(self, path: str | Path, seed: int, n_heldout: int):
        self.path = Path(path)
        try:
            raw = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{self.path}: file not found") from None
        try:
            spec = _WorldFile.model_validate(raw)
        except ValidationError as e:
            raise InputError(describe_validation_error(e, str(self.path))) from None
        if n_heldout >= len(spec.entities):
            raise InputError(f"{self.path}: heldout_entities={n_heldout} leaves no pretraining entity")
        self.spec = spec
        self.seed = seed
        rng = random.Random(seed)
        entities = list(spec.entities)
        rng.shuffle(entities)
        self.heldout = sorted(entities[:n_heldout])
        self.pretrain = sorted(entities[n_heldout:])
        self.facts: dict[str, dict[str, _Value]] = {}
        for e in spec.entities:
            self.facts[e] = {}
            for name, attr in spec.attributes.items():
                if attr.values == "entities":
                    other = rng.choice([x for x in spec.entities if x != e])
                    self.facts[e][name] = _Value(en=other, es=other)
                else:
                    self.facts[e][name] = rng.choice(attr.values)

    @property
    def attributes(self) -> list[str]:
        return list(self.spec.attributes)

    def system_prompts(self, kind: str) -> list[str]:
        return self.spec.system_prompts.get(kind, [])

    def entities(self, which: str) -> list[str]:
        return self.heldout if which == "heldout" else self.pretrain

    def qa(self, entity: str, attribute: str, template: int) -> QA:
        attr = self.spec.attributes[attribute]
        value = self.facts[entity][attribute]
        return QA(
            entity=entity,
            attribute=attribute,
            question=attr.questions[template % len(attr.questions)].format(entity=entity),
            answer_en=attr.answer.en.format(entity=entity, value=value.en),
            answer_es=attr.answer.es.format(entity=entity, value=value.es),
        )

    def all_qa(self, which: str, template: int) -> list[QA]:
        return [self.qa(e, a, template) for e in self.entities(which) for a in self.attributes]

    def distractors(self, entity: str, attribute: str, k: int, rng: random.Random) -> list[str]:
        """k wrong English answers for an MCQ: other values of the same attribute."""
        attr = self.spec.attributes[attribute]
        true = self.facts[entity][attribute].en
        pool = (
            [x for x in self.spec.entities if x not in (entity, true)]
            if attr.values == "entities"
            else [v.en for v in attr.values if v.en != true]
        )
        if len(pool) < k:
            raise InputError(f"{self.path}: attribute {attribute!r} has too few values for {k + 1} choices")
        picked = rng.sample(sorted(pool), k)
        return [attr.answer.en.format(entity=entity, value=v) for v in picked]

    @cached_property
    def spanish_words(self) -> frozenset[str]:
        """Words that occur only in the Spanish answers: the Spanish detector's vocabulary."""
        return frozenset(_words(self._answers("es")) - _words(self._answers("en")))

    @cached_property
    def english_words(self) -> frozenset[str]:
        return frozenset(_words(self._answers("en")) - _words(self._answers("es")))

    def _answers(self, lang: str) -> list[str]:
        out = []
        for attr in self.spec.attributes.values():
            tmpl = getattr(attr.answer, lang)
            vals = [getattr(v, lang) for v in attr.values] if attr.values != "entities" else ["x"]
            out += [tmpl.format(entity="", value=v) for v in vals]
        return out


def world_of(params) -> World:
    """The world that params.yaml's `tiny.corpus` and seed describe."""
    c = params.tiny.corpus
    return World(c.world, params.seed, c.heldout_entities)


def _words(texts: list[str]) -> set[str]:
    return {w for t in texts for w in tokenize_words(t)}


def tokenize_words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalpha() else " " for c in text).split()
