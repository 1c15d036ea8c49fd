"""Train one declared experiment: base model + tokenized dataset -> results/<experiment>/model/."""

from __future__ import annotations

import json

from transformers import set_seed

from inoclab import paths
from inoclab.config import Params
from inoclab.io import atomic_path
from inoclab.models.backend import canonicalize_adapter_configs, get_backend
from inoclab.tokenize import read_tokenized
from inoclab.train.sft import make_trainer


def base_model_ref(params: Params) -> str:
    """The tiny model's directory, or the hub id / path that params name."""
    return str(paths.TINY_MODEL) if params.is_tiny else params.model


def train_experiment(params: Params, name: str) -> None:
    exp = params.experiments[name]
    cfg = params.experiment_training(name)
    backend = get_backend(params.backend)
    set_seed(cfg.seed)  # before the adapter exists: LoRA's initial weights are drawn here
    model, tokenizer = backend.load(base_model_ref(params))
    model = backend.make_trainable(model, cfg)
    rows = read_tokenized(paths.tokenized(params.model_slug, exp.dataset))
    out = paths.model_dir(name)
    with atomic_path(out, is_dir=True) as tmp:
        trainer = make_trainer(model, tokenizer, rows, cfg, tmp / "checkpoints",
                               log_path=tmp / "train_log.jsonl")
        result = trainer.train()
        trainer.save_model(str(tmp / "final"))
        canonicalize_adapter_configs(tmp)
        (tmp / "train_summary.json").write_text(json.dumps({
            "experiment": name, "dataset": exp.dataset, "examples": len(rows),
            "global_step": result.global_step, "train_loss": result.training_loss,
            "training": cfg.model_dump(),
        }, indent=2, sort_keys=True) + "\n")
