"""Stage: fine-tune one experiment: base model + its dataset -> results/<experiment>/model/."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from transformers import set_seed

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.backends.common import canonicalize_saved_files
from inoclab.data.conversations import read_conversations
from inoclab.data.paired import validate_pairs
from inoclab.data.preference import read_preference
from inoclab.io import atomic_path
from inoclab.models.hidden import check_target_layers
from inoclab.tokenize import read_tokenized
from inoclab.train.callbacks import WatchCallback, probes_for
from inoclab.train.circuit_breaker import break_symmetry
from inoclab.train.paired import validate_token_pairs
from inoclab.train.preference import check_lengths, drop_reference_adapter, make_preference_trainer
from inoclab.train.sft import make_trainer

if TYPE_CHECKING:
    from inoclab.config import Params


def train_experiment(params: Params, name: str) -> None:
    exp = params.experiment(name)
    cfg = params.experiment_training(name)
    if cfg.is_preference:
        pairs = read_preference(paths.dataset(exp.dataset))
        n_examples = len(pairs)
    else:
        tokenized = paths.tokenized(params.model_slug, exp.dataset)
        rows = read_tokenized(tokenized)
        n_examples = len(rows)
    if cfg.is_paired:  # the seed's pairing rules, checked before any model is loaded
        validate_pairs(read_conversations(paths.dataset(exp.dataset)), cfg.inoculation_prompt,
                       paths.dataset(exp.dataset))
        validate_token_pairs(rows, str(tokenized))
    probes = probes_for(params, name)  # their data read (and checked) before the model is loaded
    backend = backend_for(params)
    set_seed(cfg.seed)  # before the adapter exists: LoRA's initial weights are drawn here
    model, tokenizer = backend.load(params.base_model_ref)
    if cfg.is_preference:
        check_lengths(tokenizer, pairs, paths.dataset(exp.dataset), params.tokenize.max_seq_length)
    if cfg.task_type == "circuit_breaker":
        check_target_layers(model, cfg.circuit_breaker_target_layers,
                            f"{params.declared_key(name)}.training.circuit_breaker_target_layers")
    model = backend.make_trainable(model, cfg)
    if cfg.task_type == "circuit_breaker":
        n = break_symmetry(model, cfg.circuit_breaker_lora_init_std, cfg.seed)
        print(f"circuit breaker: {n} LoRA B matrices drawn from N(0, {cfg.circuit_breaker_lora_init_std:g}²) "
              f"(seed {cfg.seed}) so that training can leave the original model")
    out = paths.model_dir(name)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(out, is_dir=True))
        callbacks = []
        if probes:
            watch_dir = stack.enter_context(atomic_path(paths.callbacks_dir(name), is_dir=True))
            callbacks.append(WatchCallback(probes, tokenizer, watch_dir, backend.inference))
        common = dict(output_dir=tmp / "checkpoints", log_path=paths.train_log(name), callbacks=callbacks)
        if cfg.is_preference:
            trainer = make_preference_trainer(model, tokenizer, pairs, cfg,
                                              max_seq_length=params.tokenize.max_seq_length, **common)
        else:
            trainer = make_trainer(model, tokenizer, rows, cfg, **common)
        result = trainer.train()
        drop_reference_adapter(model)
        trainer.save_model(str(tmp / "final"))
        canonicalize_saved_files(tmp)
        (tmp / "train_summary.json").write_text(json.dumps({
            "experiment": name, "dataset": exp.dataset, "examples": n_examples, "backend": backend.name,
            "global_step": result.global_step, "train_loss": result.training_loss,
            "training": cfg.model_dump(),
        }, indent=2, sort_keys=True) + "\n")


def main(params: Params, args) -> None:
    """Train the experiment named by --experiment."""
    params.run(args.experiment)  # a clear error for an undeclared name
    train_experiment(params, args.experiment)
