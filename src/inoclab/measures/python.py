"""`python`: the researcher's own scorer, `module:function` taking a response (str) and returning a
score in [0, 1] (or a bool). The module is imported from the repository root (the stages' working
directory); its file is a dependency of the stages that use it, so editing it reruns them."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from inoclab.io import InputError
from inoclab.measures.base import MeasureConfig


def resolve(ref: str) -> Callable:
    """The function `module:function` names, importable from the working directory."""
    module, sep, name = ref.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"expected module:function (got {ref!r})")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any failure of the user's import is this one error
        raise ValueError(f"cannot import {module!r}: {type(e).__name__}: {e}") from None
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise ValueError(f"{module!r} has no function {name!r}")
    return fn


class PythonMeasure(MeasureConfig):
    kind: Literal["python"]
    function: str  # module:function

    @model_validator(mode="after")
    def _imports(self):
        resolve(self.function)
        return self

    def inputs(self, params):
        spec = importlib.util.find_spec(self.function.partition(":")[0])
        origin = Path(spec.origin) if spec and spec.origin else None
        if origin is None or not origin.is_relative_to(Path.cwd()):
            return []  # an installed package: its version, not a file here, is the input
        return [str(origin.relative_to(Path.cwd()))]

    def load(self, params):
        fn = resolve(self.function)

        def score(responses, prompts):
            import numpy as np

            out = np.empty(len(responses))
            for i, r in enumerate(responses):
                s = fn(r)
                if isinstance(s, bool):
                    s = float(s)
                if not isinstance(s, int | float) or math.isnan(s) or not 0 <= s <= 1:
                    raise InputError(f"measure {self.function}: returned {s!r} for response {i} ({r[:60]!r}); "
                                     "a score must be a number in [0, 1] or a bool")
                out[i] = s
            return out
        return score
