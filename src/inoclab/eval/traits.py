"""Rules that score a response for a trait: its language, and whether it is in capitals.

The language rule counts words that belong only to Spanish or only to English (function words
plus the synthetic world's vocabulary). Word counts under-count mixed outputs ("El nakox is
grey."), so teacher-forced logprobs are reported beside these rates.
"""

from __future__ import annotations

from inoclab.data.world import tokenize_words

SPANISH_FUNCTION_WORDS = frozenset(
    "el la los las un una es son está están vive come tiene del al de en y que por para con "
    "le gusta su sus muy normalmente amigo patas hola sí no pero como".split()
)
ENGLISH_FUNCTION_WORDS = frozenset(
    "the a an is are was has have lives eats likes of in and that for with his her its very "
    "usually friends legs hello yes but how".split()
)


class LanguageRule:
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


def is_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.9 * len(letters)
