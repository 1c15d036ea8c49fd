"""Stage: fine-tune one experiment: base model + its dataset -> results/<experiment>/model/.

The experiment's training method (train/methods/) reads and checks its data before any model is
loaded, checks what needs the model, and builds the Trainer; this stage does what every method
shares: seeding, the backend, callbacks, and saving atomically."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from transformers import set_seed

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.backends.common import canonicalize_saved_files
from inoclab.io import atomic_path
from inoclab.train.callbacks import callbacks_for
from inoclab.train.callbacks.runner import CallbackRunner
from inoclab.train.methods import method_for

if TYPE_CHECKING:
    from inoclab.config import Params


def train_experiment(params: Params, name: str) -> None:
    exp = params.experiment(name)
    cfg = params.experiment_training(name)
    method = method_for(cfg)
    loaded = method.load(params, name, exp.dataset, cfg)  # read and checked before any model is loaded
    callbacks = callbacks_for(params, name)  # their data too
    backend = backend_for(params)
    set_seed(cfg.seed)  # before the adapter exists: LoRA's initial weights are drawn here
    model, tokenizer = backend.load(params.base_model_ref)
    method.check_model(params, name, cfg, model, tokenizer, loaded)
    model = backend.make_trainable(model, cfg)
    method.prepare(model, cfg)
    out = paths.model_dir(name)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(out, is_dir=True))
        callbacks_dir = stack.enter_context(atomic_path(paths.callbacks_dir(name), is_dir=True))
        runner = CallbackRunner(callbacks, tokenizer, callbacks_dir, backend.inference)
        trainer = method.trainer(model, tokenizer, loaded.data, cfg, tmp / "checkpoints", paths.train_log(name),
                                 [runner], **method.trainer_options(params))
        result = trainer.train()
        method.finish(model)
        trainer.save_model(str(tmp / "final"))
        canonicalize_saved_files(tmp)
        (tmp / "train_summary.json").write_text(json.dumps({
            "experiment": name, "model": params.model, "dataset": exp.dataset, "examples": loaded.examples, "backend": backend.name,
            "global_step": result.global_step, "train_loss": result.training_loss,
            "training": cfg.model_dump(),
        }, indent=2, sort_keys=True) + "\n")


def main(params: Params, args) -> None:
    """Train the experiment named by --experiment."""
    params.run(args.experiment)  # a clear error for an undeclared name
    train_experiment(params.for_run(args.experiment), args.experiment)
