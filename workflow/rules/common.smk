# Helpers shared by the rules: a stage's outputs as Snakemake wants them.
import re
from pathlib import Path

from inoclab.params.models import model_slug

# the software every rule runs with (used with --software-deployment-method conda)
ENV = "../envs/inoclab.yaml"


wildcard_constraints:
    # `tiny`, `models`, `datasets`, `tokenized`, `predictors`, `report` and `fingerprints` are results/ folders, not experiments
    experiment=r"(?!(?:tiny|models|datasets|tokenized|predictors|report|fingerprints)(?:/|$))[A-Za-z0-9_.\-]+",
    dataset=r"[A-Za-z0-9_.\-]+",


# results/ folder names of the base models the runs use (tokenized data, predictors)
MODELS = "|".join(re.escape(model_slug(m)) for m in P.models())


def outputs_of(stage):
    """Folders (no suffix) become directory() outputs."""
    return [directory(p) if not Path(p).suffix else p for p in stage.snakemake_outputs]
