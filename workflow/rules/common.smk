# Helpers shared by the rules: a stage's outputs as Snakemake wants them.
import re
from pathlib import Path

# the software every rule runs with (used with --software-deployment-method conda)
ENV = "../envs/inoclab.yaml"


wildcard_constraints:
    # `tiny`, `models`, `datasets`, `tokenized`, `surprise` and `report` are results/ folders, not experiments
    experiment=r"(?!(?:tiny|models|datasets|tokenized|surprise|report)(?:/|$))[A-Za-z0-9_.\-]+",
    dataset=r"[A-Za-z0-9_.\-]+",


def outputs_of(stage):
    """Folders (no suffix) become directory() outputs."""
    return [directory(p) if not Path(p).suffix else p for p in stage.snakemake_outputs]
