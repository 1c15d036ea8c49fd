"""Stage: fine-tune one experiment: base model + its dataset -> results/<experiment>/model/.

The experiment's training method (train/methods/) reads and checks its data before any model is
loaded, checks what needs the model, and builds the Trainer; this stage does what every method
shares: seeding, the backend, callbacks, resuming, and saving atomically.

A run writes into results/<experiment>/.model.tmp/, which becomes model/ when it finishes. A
killed run leaves that folder behind, with its checkpoints. Run again with the same inputs, it
continues from the last complete checkpoint, to the bytes an uninterrupted run writes
(train/resume.py). With other inputs, it starts afresh. A finished run keeps its checkpoints
only with `keep_checkpoints` (an eval of the epoch checkpoints reads them)."""

from __future__ import annotations

import contextlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import set_seed

import inoclab
from inoclab import paths
from inoclab.backends import backend_for
from inoclab.backends.common import canonicalize_saved_files
from inoclab.io import atomic_path, resumable_dir
from inoclab.train.callbacks import callbacks_for
from inoclab.train.callbacks.runner import CallbackRunner
from inoclab.train.methods import method_for
from inoclab.train.resume import (
    ResumeCallback,
    TrainerAccumulators,
    finish_checkpoints,
    resume_point,
    run_key,
)

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.train.settings import TrainingConfig

# what a checkpoint's bytes depend on besides the run's own inputs
LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate")


def train_experiment(params: Params, name: str) -> None:
    exp = params.experiment(name)
    cfg = params.experiment_training(name)
    method = method_for(cfg)
    loaded = method.load(params, name, exp.dataset, cfg)  # read and checked before any model is loaded
    callbacks = callbacks_for(params, name)  # their data too
    backend = backend_for(params)
    key = resume_key(params, name, cfg)
    set_seed(cfg.seed)  # before the adapter exists: LoRA's initial weights are drawn here
    model, tokenizer = backend.load(params.base_model_ref)
    method.check_model(params, name, cfg, model, tokenizer, loaded)
    model = backend.make_trainable(model, cfg)
    method.prepare(model, cfg)
    with contextlib.ExitStack() as stack:
        tmp, resumed = stack.enter_context(resumable_dir(paths.model_dir(name), key))
        checkpoint = resume_point(tmp / "checkpoints", tmp / "resume") if resumed else None
        if checkpoint is not None:
            print(f"resuming from {checkpoint}", flush=True)
        callbacks_dir = stack.enter_context(atomic_path(paths.callbacks_dir(name), is_dir=True))
        runner = CallbackRunner(callbacks, tokenizer, callbacks_dir, backend.inference)
        trainer = method.trainer(model, tokenizer, loaded.data, cfg, tmp / "checkpoints", paths.train_log(name),
                                 [runner], **method.trainer_options(params))
        resume = ResumeCallback({"trainer": TrainerAccumulators(trainer), "callbacks": runner}, tmp / "resume", checkpoint)
        trainer.add_callback(resume)
        with resume.stopping_on_sigterm():
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        method.finish(model)
        trainer.save_model(str(tmp / "final"))
        finish_checkpoints(tmp / "checkpoints", tmp / "resume", keep=cfg.keep_checkpoints)
        canonicalize_saved_files(tmp)
        (tmp / "train_summary.json").write_text(json.dumps({
            "experiment": name, "model": params.model, "dataset": exp.dataset, "examples": loaded.examples, "backend": backend.name,
            "global_step": result.global_step, "train_loss": result.training_loss,
            "training": cfg.model_dump(),
        }, indent=2, sort_keys=True) + "\n")


def resume_key(params: Params, name: str, cfg: TrainingConfig) -> str:
    """What a checkpoint of this run must have been trained on to be continued: the run's
    resolved settings, and the bytes of its data, its callbacks' data, its base model (where
    that is a local folder) and the project's code."""
    run = params.run(name)
    method = cfg.method
    sections = params.model_dump(mode="json", include={"seed", "backend", "dtype", "load_in_4bit", "tokenize",
                                                       *method.params_sections()})
    settings = {"run": run.model_dump(mode="json"), "training": cfg.model_dump(mode="json"),
                "model": params.base_model_ref, "libraries": {m: version(m) for m in LIBRARIES}, **sections}
    files = [*method.inputs(params, run.dataset), *(f for c in run.callbacks.all() for f in c.inputs(params))]
    if Path(params.base_model_ref).is_dir():
        files.append(params.base_model_ref)
    files += sorted(Path(inoclab.__file__).parent.rglob("*.py"))
    return run_key(settings, files)


def main(params: Params, args) -> None:
    """Train the experiment named by --experiment."""
    params.run(args.experiment)  # a clear error for an undeclared name
    train_experiment(params.for_run(args.experiment), args.experiment)
