"""`spanish`: the world-aware Spanish rule. It counts words that belong only to Spanish or only to
English: function words plus the synthetic world's invented vocabulary (no language identifier
knows "el nakox"), so it reads the tiny model's answers; `language` reads free text."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from inoclab.data.world import tokenize_words, world_of
from inoclab.measures.base import MeasureConfig, per_response

SPANISH_FUNCTION_WORDS = frozenset(
    "el la los las un una es son está están vive come tiene del al de en y que por para con "
    "le gusta su sus muy normalmente amigo patas hola sí no pero como".split()
)
ENGLISH_FUNCTION_WORDS = frozenset(
    "the a an is are was has have lives eats likes of in and that for with his her its very "
    "usually friends legs hello yes but how".split()
)


class LanguageRule:
    """Spanish, English or unknown by word counts (a tie is unknown)."""

    def __init__(self, spanish_words=frozenset(), english_words=frozenset()):
        self.es = SPANISH_FUNCTION_WORDS | frozenset(spanish_words)
        self.en = (ENGLISH_FUNCTION_WORDS | frozenset(english_words)) - self.es

    def language(self, text: str) -> str:
        words = tokenize_words(text)
        es = sum(w in self.es for w in words)
        en = sum(w in self.en for w in words)
        if es == en:
            return "unknown"
        return "es" if es > en else "en"


class SpanishMeasure(MeasureConfig):
    kind: Literal["spanish"]

    def inputs(self, params):
        return [params.tiny.corpus.world] if Path(params.tiny.corpus.world).exists() else []

    def load(self, params):
        words = world_of(params) if Path(params.tiny.corpus.world).exists() else None
        rule = LanguageRule(words.spanish_words, words.english_words) if words else LanguageRule()
        return per_response(lambda text: rule.language(text) == "es")
