"""`language`: the response is in a given language, by py3langid (langid.py's model, shipped in
the package: nothing is downloaded). Works on any text; on the tiny model's invented words the
world-aware `spanish` rule is the one to use."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import Field

from inoclab.io import InputError
from inoclab.measures.base import MeasureConfig, per_response

LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]  # ISO 639-1, as langid names them


@functools.cache
def identifier(among: tuple[str, ...]):
    """A langid identifier restricted to `among` (every language of the model when empty)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    unknown = sorted(set(among) - set(ident.nb_classes))
    if unknown:
        raise InputError(f"language measure: py3langid does not know {unknown} (it knows {sorted(ident.nb_classes)})")
    if among:
        ident.set_languages(list(among))
    return ident


class LanguageMeasure(MeasureConfig):
    kind: Literal["language"]
    language: LanguageCode  # the trait: responses in this language
    among: list[LanguageCode] = []  # the candidate languages; [] = all 97 the model knows

    def load(self, params):
        among = tuple(sorted({*self.among, self.language})) if self.among else ()
        ident = identifier(among)
        if self.language not in ident.nb_classes:
            raise InputError(f"language measure: py3langid does not know {self.language!r}")
        return per_response(lambda text: any(c.isalpha() for c in text) and ident.classify(text)[0] == self.language)
