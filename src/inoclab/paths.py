"""Where every artefact lives. The workflow (Snakemake and DVC) and the code share these."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path("results")
TINY_DIR = RESULTS / "tiny"
TINY_CORPUS = TINY_DIR / "corpus.jsonl"
TINY_TOKENIZER = TINY_DIR / "tokenizer"
TINY_MODEL = TINY_DIR / "model"
TINY_METRICS = TINY_DIR / "metrics.json"
TINY_PRETRAIN_LOG = TINY_DIR / "pretrain_log"  # a train log folder (train/train_log.py)


def embedded_model(name: str) -> Path:
    """An embedded real model built from its registry package (models/embedded.py)."""
    return RESULTS / "models" / name


def dataset(name: str) -> Path:
    return RESULTS / "datasets" / f"{name}.jsonl"


def tokenized(model_slug: str, name: str) -> Path:
    return RESULTS / "tokenized" / model_slug / f"{name}.parquet"


def tokenize_stats(model_slug: str, name: str) -> Path:
    """Counts of the tokenization: examples, tokens, weighted, straddling and truncated tokens."""
    return tokenized(model_slug, name).with_suffix(".stats.json")


def predictors(model_slug: str, name: str) -> Path:
    """The predictor battery of a base model at a paired dataset: uplift, drift, elicitation."""
    return RESULTS / "predictors" / model_slug / f"{name}.json"


def experiment_dir(name: str) -> Path:
    return RESULTS / name


def model_dir(name: str) -> Path:
    """results/<experiment>/model/: `final/` (adapter or weights), `train_summary.json`, and
    `checkpoints/` where training keeps them (`keep_checkpoints`)."""
    return experiment_dir(name) / "model"


def final_model(name: str) -> Path:
    return model_dir(name) / "final"


def train_log(name: str) -> Path:
    """The training curves (loss, learning rate, the loop's own monitors) through dvclive, one row
    per logged step: `metrics.json` and `plots/metrics/*.tsv` (train/train_log.py)."""
    return experiment_dir(name) / "train_log"


def train_log_metrics(folder: Path) -> Path:
    """The last value of each metric of a train log folder: `dvc metrics show`, `dvc exp show`."""
    return folder / "metrics.json"


def train_log_plots(folder: Path) -> Path:
    """The per-metric curves of a train log folder: `dvc plots show`."""
    return folder / "plots" / "metrics"


def callbacks_dir(name: str) -> Path:
    """Step-indexed measurements taken during training (train/callbacks.py): `dvc plots show`."""
    return experiment_dir(name) / "callbacks"


def callbacks_index(name: str) -> Path:
    """What ran when: each declared callback, its steps and files (an empty list when none are)."""
    return callbacks_dir(name) / "index.json"


def eval_json(name: str) -> Path:
    return experiment_dir(name) / "eval.json"


REPORT = RESULTS / "report"
INOCULATION_CSV = REPORT / "inoculation.csv"
ALPHA_SWEEP_PNG = REPORT / "alpha_sweep.png"
INOCULATION_SUMMARY = REPORT / "inoculation_summary.json"


def eval_details(name: str) -> Path:
    """Per-block, per-token and per-question detail files of the eval."""
    return experiment_dir(name) / "eval_details"


# what each stage reads besides its data: its command, the params values it reads and the sha256
# of its code. Both engines' stages depend on this file, not on params.yaml and the code files
# one by one (fingerprint.py, workflow.py)
FINGERPRINTS = RESULTS / "fingerprints"


def fingerprint(stage_name: str) -> Path:
    return FINGERPRINTS / f"{stage_name}.json"


CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def checkpoint_step(checkpoint: Path) -> int:
    """N of a Trainer checkpoint folder `checkpoint-N`."""
    return int(CHECKPOINT.fullmatch(checkpoint.name).group(1))


def checkpoints(folder: Path) -> list[Path]:
    """The Trainer's checkpoint folders in `folder` (a run's `model/checkpoints/`), in step order."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and CHECKPOINT.fullmatch(p.name)]
    return sorted(found, key=checkpoint_step)
