"""Trait measures: how a response is scored for a trait, declared in params.yaml wherever a trait
is measured (the `trait` eval's `measure` and `also`, the sampling callback's `measure`).

    measure: spanish                       # a kind without keys, by name
    measure: {kind: language, language: es}
    measure: {kind: regex, pattern: "^[^a-z]*$"}
    measure: {kind: python, function: "my_traits:formality"}
    measure: {kind: judge, model: smollm2-135m, template: "Is this reply in Spanish? {response}"}

A new measure is one module (a MeasureConfig with its `kind`) and one line in MEASURES.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Field

from inoclab.measures.base import MeasureConfig, Scorer
from inoclab.measures.capitals import CapitalsMeasure
from inoclab.measures.judge import JudgeMeasure
from inoclab.measures.language import LanguageMeasure
from inoclab.measures.python import PythonMeasure
from inoclab.measures.regex import RegexMeasure
from inoclab.measures.spanish import SpanishMeasure

__all__ = ["MEASURES", "MEASURE_KINDS", "Measure", "MeasureConfig", "Scorer"]

MEASURES: tuple[type[MeasureConfig], ...] = (
    SpanishMeasure, CapitalsMeasure, LanguageMeasure, RegexMeasure, PythonMeasure, JudgeMeasure,
)

MEASURE_KINDS = frozenset(m.model_fields["kind"].annotation.__args__[0] for m in MEASURES)


def _by_name(value: Any) -> Any:
    """`spanish` is `{kind: spanish}`."""
    return {"kind": value} if isinstance(value, str) else value


# one measure in params.yaml: a mapping with its `kind`, or the bare name of a kind
Measure = Annotated[
    Union[tuple(MEASURES)],  # noqa: UP007 - a union built from the registry
    Field(discriminator="kind"), BeforeValidator(_by_name),
]
