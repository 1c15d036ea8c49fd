"""Names of runs: a family member is `<family><α>` (`inoc_alpha0.5`), any run may be repeated
with another seed as `<name>_seed<N>`."""

from __future__ import annotations

import re

SEED_SUFFIX = re.compile(r"^(?P<base>.+)_seed(?P<seed>-?\d+)$")
ALPHA = re.compile(r"^(?P<alpha>\d+(?:\.\d+)?)$")


def alpha_name(family: str, alpha: float) -> str:
    """`inoc_alpha` + 0.5 -> `inoc_alpha0.5` (1.0 -> `inoc_alpha1`)."""
    return family + f"{alpha:.10f}".rstrip("0").rstrip(".")


def seed_name(name: str, seed: int) -> str:
    return f"{name}_seed{seed}"


def split_seed(name: str) -> tuple[str, int] | None:
    """`baseline_seed43` -> ("baseline", 43); None for a name without a seed suffix."""
    m = SEED_SUFFIX.match(name)
    return (m["base"], int(m["seed"])) if m else None


def alpha_of(family: str, name: str) -> float | None:
    """The α of `name` as a member of `family` (`inoc_alpha0.37` -> 0.37), else None."""
    if name.startswith(family) and (m := ALPHA.match(name[len(family):])):
        return float(m["alpha"])
    return None
