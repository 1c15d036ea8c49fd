"""Continuing a killed training run from its last checkpoint, to the same bytes.

The Trainer's own resume restores the weights, the optimizer, the scheduler, the random state
and the data order. It does not restore what it sums between logging steps and over the run:
it restarts the running loss at zero, so the first loss logged after a resume and the final
`train_loss` come out wrong. It does not restore what our loops and callbacks collect either.
`ResumeCallback` writes all of that into each checkpoint as `resume_state.json`, and gives it
back when training continues. The file is written last, after everything else of the
checkpoint, so it also marks the checkpoint as complete. A checkpoint without it was cut off
mid-write: it is removed, and training resumes from the one before it.

SIGTERM (a scheduler's preemption notice) does not kill the run mid-step. It finishes the
step, saves a checkpoint, and stops with an error. The error matters: it tells Snakemake,
DVC and SLURM that the job is unfinished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import signal
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from transformers import TrainerCallback

from inoclab.io import write_text

RESUME_STATE = "resume_state.json"
CHECKPOINT = re.compile(r"checkpoint-(\d+)")


class Resumable(Protocol):
    """A part of a training run whose state a checkpoint must carry (JSON-able)."""

    def resume_state(self) -> dict: ...

    def restore(self, state: dict) -> None: ...


def checkpoints(folder: Path) -> list[Path]:
    """The Trainer's checkpoint folders in `folder`, in step order."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and CHECKPOINT.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(CHECKPOINT.fullmatch(p.name).group(1)))


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The latest checkpoint that was written to the end. Checkpoints cut off mid-write are
    removed: the run saves them again when it gets there."""
    complete = None
    for p in checkpoints(folder):
        if (p / RESUME_STATE).is_file():
            complete = p
        else:
            shutil.rmtree(p)
    return complete


def finish_checkpoints(folder: Path) -> None:
    """Leave the checkpoints an uninterrupted run leaves. Drop the resume files (working state,
    not results) and the checkpoints saved only because a SIGTERM asked for one."""
    for p in checkpoints(folder):
        state = p / RESUME_STATE
        if json.loads(state.read_text(encoding="utf-8"))["on_request"]:
            shutil.rmtree(p)
        else:
            state.unlink()


def run_key(settings: dict, files: Iterable[str | Path]) -> str:
    """A digest of everything a training run depends on: its resolved settings, and the bytes
    of the files it reads (data, base model, code). A checkpoint is resumed only under the same
    key. A changed input starts the run afresh, never from a checkpoint of other inputs."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for f in sorted({Path(f) for f in files}):
        for file in sorted(f.rglob("*")) if f.is_dir() else [f]:
            if file.is_file():
                h.update(f"\n{file}\n".encode())
                with file.open("rb") as fh:
                    h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


class TrainerAccumulators:
    """What the Trainer sums between logging steps (the loss since the last record) and over the
    run (the loss behind `train_loss`). It also keeps the monitors TRL's trainers and ours
    average at each record. These live in private attributes that the Trainer resets on resume.
    A test pins their names to the installed transformers."""

    def __init__(self, trainer):
        self.trainer = trainer

    def resume_state(self) -> dict:
        t = self.trainer
        state = {"tr_loss": t._tr_loss.item(), "total_loss": t._total_loss_scalar,
                 "last_logged": t._globalstep_last_logged}
        if hasattr(t, "_metrics"):  # TRL: lists of per-step values, averaged at each record
            state["trl_metrics"] = {k: list(v) for k, v in t._metrics["train"].items()}
        if hasattr(t, "resume_state"):  # a loop's own monitors (the circuit breaker's)
            state["own"] = t.resume_state()
        return state

    def restore(self, state: dict) -> None:
        t = self.trainer
        t._tr_loss.fill_(state["tr_loss"])  # a float32 value read back exactly
        t._total_loss_scalar = state["total_loss"]
        t._globalstep_last_logged = state["last_logged"]
        if "trl_metrics" in state:
            t._metrics["train"] = defaultdict(list, {k: list(v) for k, v in state["trl_metrics"].items()})
        if "own" in state:
            t.restore(state["own"])


class ResumeCallback(TrainerCallback):
    """Writes the `parts`' state into every checkpoint; when training continues from
    `checkpoint`, gives it back before the first step. Any SIGTERM received while it watches
    ends the run at the next step boundary, after a checkpoint."""

    def __init__(self, parts: dict[str, Resumable], checkpoint: Path | None = None):
        self.parts, self.checkpoint = parts, checkpoint
        self.stop_requested = False
        self.on_request = False  # the coming checkpoint is not one of the run's own

    def on_train_begin(self, args, state, control, **kwargs):
        if self.checkpoint is not None:
            saved = json.loads((self.checkpoint / RESUME_STATE).read_text(encoding="utf-8"))["parts"]
            for name, part in self.parts.items():
                part.restore(saved[name])

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_requested and not control.should_save:  # the Trainer's own flow callback ran first
            control.should_save = self.on_request = True

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero:  # one writer, as for the Trainer's own state file
            saved = {"parts": {name: part.resume_state() for name, part in self.parts.items()},
                     "on_request": self.on_request}
            write_text(folder / RESUME_STATE, json.dumps(saved))  # keys unsorted: rows keep their column order
        if self.stop_requested:
            raise Interrupted(f"training stopped by SIGTERM at step {state.global_step}, after saving {folder}; "
                              "run the stage again to continue from there")

    @contextlib.contextmanager
    def stopping_on_sigterm(self) -> Iterator[None]:
        """While training: SIGTERM asks for a checkpoint and a stop instead of killing the process."""
        def request_stop(signum, frame):
            print("SIGTERM: saving a checkpoint after this step, then stopping", flush=True)
            self.stop_requested = True

        previous = signal.signal(signal.SIGTERM, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


class Interrupted(SystemExit):
    """The run stopped early on request, its state saved: an error exit, so that no workflow
    engine takes the job for finished."""
