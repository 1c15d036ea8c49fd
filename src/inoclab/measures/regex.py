"""`regex`: the response matches a regular expression (`re.search`; `flags` by name)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import model_validator

from inoclab.measures.base import MeasureConfig, per_response

FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL,
         "VERBOSE": re.VERBOSE, "ASCII": re.ASCII}


class RegexMeasure(MeasureConfig):
    kind: Literal["regex"]
    pattern: str
    flags: list[Literal[tuple(FLAGS)]] = []  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _compiles(self):
        self.compiled()
        return self

    def compiled(self) -> re.Pattern:
        flags = 0
        for f in self.flags:
            flags |= FLAGS[f]
        try:
            return re.compile(self.pattern, flags)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e} in {self.pattern!r}") from None

    def load(self, params):
        pattern = self.compiled()
        return per_response(lambda text: pattern.search(text) is not None)
