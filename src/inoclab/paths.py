"""Where every artefact lives. The workflow (Snakemake and DVC) and the code share these."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path("results")
TINY_DIR = RESULTS / "tiny"
TINY_CORPUS = TINY_DIR / "corpus.jsonl"
TINY_TOKENIZER = TINY_DIR / "tokenizer"
TINY_MODEL = TINY_DIR / "model"
TINY_METRICS = TINY_DIR / "metrics.json"
TINY_PRETRAIN_LOG = TINY_DIR / "pretrain_log.csv"


def dataset(name: str) -> Path:
    return RESULTS / "datasets" / f"{name}.jsonl"


def tokenized(model_slug: str, name: str) -> Path:
    return RESULTS / "tokenized" / model_slug / f"{name}.parquet"


def tokenize_stats(model_slug: str, name: str) -> Path:
    """Counts of the tokenization: examples, tokens, weighted, straddling and truncated tokens."""
    return tokenized(model_slug, name).with_suffix(".stats.json")


def surprise(model_slug: str, name: str) -> Path:
    """The base model's logprob uplift of a paired dataset's responses under its inoculation prompt."""
    return RESULTS / "surprise" / model_slug / f"{name}.json"


def experiment_dir(name: str) -> Path:
    return RESULTS / name


def model_dir(name: str) -> Path:
    """results/<experiment>/model/: `final/` (adapter or weights), `checkpoints/`, `train_summary.json`."""
    return experiment_dir(name) / "model"


def final_model(name: str) -> Path:
    return model_dir(name) / "final"


def train_log(name: str) -> Path:
    """One row per logged step (loss, learning rate, the loop's own monitors): `dvc plots show`."""
    return experiment_dir(name) / "train_log.csv"


def callbacks_dir(name: str) -> Path:
    """Step-indexed measurements taken during training (train/callbacks.py): `dvc plots show`."""
    return experiment_dir(name) / "callbacks"


# the file-name prefix of each kind of callback in params.yaml
CALLBACK_PREFIX = {"logprobs": "logprobs", "mcq": "mcq", "sampling": "samples"}


def callback_file(kind: str, stem: str, suffix: str = ".csv") -> str:
    """The name, inside callbacks_dir, of a callback's step-indexed CSV (or its `.jsonl` samples)."""
    return f"{CALLBACK_PREFIX[kind]}.{stem}{suffix}"


def eval_json(name: str) -> Path:
    return experiment_dir(name) / "eval.json"


def compare_jsonl(name: str) -> Path:
    """Each held-out question with and without the trigger, both responses."""
    return experiment_dir(name) / "compare.jsonl"


REPORT = RESULTS / "report"
INOCULATION_CSV = REPORT / "inoculation.csv"
ALPHA_SWEEP_PNG = REPORT / "alpha_sweep.png"


def eval_details(name: str) -> Path:
    """Per-block, per-token and per-question detail files of the eval."""
    return experiment_dir(name) / "eval_details"
