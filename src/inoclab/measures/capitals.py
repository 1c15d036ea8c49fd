"""`capitals`: the response is written in capital letters (at least 90% of its letters)."""

from __future__ import annotations

from typing import Literal

from inoclab.measures.base import MeasureConfig, per_response


def is_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.9 * len(letters)


class CapitalsMeasure(MeasureConfig):
    kind: Literal["capitals"]

    def load(self, params):
        return per_response(is_capitals)
