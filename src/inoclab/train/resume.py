"""Continuing a killed training run from its last checkpoint, to the same bytes.

The Trainer's own resume restores the weights, the optimizer, the scheduler, the random state
and the data order. It does not restore what it sums between logging steps and over the run:
it restarts the running loss at zero, so the first loss logged after a resume and the final
`train_loss` come out wrong. It does not restore what TRL's trainers, our loops and callbacks
collect either. `ResumeCallback` writes all of that, per process, beside the checkpoints
(`<states>/checkpoint-N/process-<i>.json`, written after the checkpoint itself, so the file of
process 0 also marks the checkpoint as complete), and gives it back when training continues.
The checkpoint folders stay exactly what an uninterrupted run leaves.

A run is continued from its last complete checkpoint before the end of training. A checkpoint
without its state was cut off mid-write and is removed. The final checkpoint is not resumed
from: the Trainer would take one step too many. The run redoes the steps after the checkpoint
before it, which gives the same bytes.

SIGTERM (a scheduler's preemption notice) does not kill the run mid-step. It finishes the
step, saves a checkpoint, and stops with an error. The error matters: it tells Snakemake,
DVC and SLURM that the job is unfinished. On the last step, or where the run saves anyway (an
epoch's end), the run's own checkpoint carries the stop; after the last step it just finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from transformers import TrainerCallback

from inoclab.io import write_text
from inoclab.paths import checkpoint_step, checkpoints

PROCESS_0 = "process-0.json"


class Resumable(Protocol):
    """A part of a training run whose state a checkpoint must carry (JSON-able)."""

    def resume_state(self) -> dict: ...

    def restore(self, state: dict) -> None: ...


def state_file(states: Path, checkpoint: str, process: int) -> Path:
    return states / checkpoint / f"process-{process}.json"


def resume_point(folder: Path, states: Path) -> Path | None:
    """The checkpoint to continue from: the latest one written to the end, before the end of
    training. Checkpoints newer than that were cut off mid-write (or are the final one): the
    run writes them again when it gets there, so they are removed now."""
    found = checkpoints(folder)
    complete = [p for p in found if (states / p.name / PROCESS_0).is_file()
                and not _is_final(p)]
    point = complete[-1] if complete else None
    for p in found:
        if point is None or checkpoint_step(p) > checkpoint_step(point):
            shutil.rmtree(p)
            shutil.rmtree(states / p.name, ignore_errors=True)
    return point


def _is_final(checkpoint: Path) -> bool:
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return state["global_step"] >= state["max_steps"]


def finish_checkpoints(folder: Path, states: Path, keep: bool) -> None:
    """Drop the resume states (working state, not results), and the checkpoints unless they are
    kept. Kept, they are exactly an uninterrupted run's: those saved only because a SIGTERM
    asked for one go."""
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    for p in checkpoints(folder) if keep else []:
        saved = states / p.name / PROCESS_0
        if saved.is_file() and json.loads(saved.read_text(encoding="utf-8"))["on_request"]:
            shutil.rmtree(p)
    shutil.rmtree(states, ignore_errors=True)


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
        if hasattr(t, "_metrics"):  # TRL (DPO): lists of per-step values, averaged at each record
            state["trl_metrics"] = {k: list(v) for k, v in t._metrics["train"].items()}
        if hasattr(t, "_stored_metrics"):  # TRL (ORPO): the same, under another name
            state["trl_stored_metrics"] = {k: list(v) for k, v in t._stored_metrics["train"].items()}
        if hasattr(t, "_total_train_tokens"):  # TRL (DPO): the tokens seen so far (`num_tokens`)
            state["trl_total_train_tokens"] = t._total_train_tokens
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
        if "trl_stored_metrics" in state:
            t._stored_metrics["train"] = defaultdict(list, {k: list(v) for k, v in state["trl_stored_metrics"].items()})
        if "trl_total_train_tokens" in state:
            t._total_train_tokens = state["trl_total_train_tokens"]
        if "own" in state:
            t.restore(state["own"])


class ResumeCallback(TrainerCallback):
    """Writes the `parts`' state beside every checkpoint, into `states`; when training continues
    from `checkpoint`, gives it back before the first step. Any SIGTERM received while it
    watches ends the run at the next step boundary, after a checkpoint."""

    def __init__(self, parts: dict[str, Resumable], states: Path, checkpoint: Path | None = None):
        self.parts, self.states, self.checkpoint = parts, states, checkpoint
        self.stop_requested = False
        self.on_request = False  # the coming checkpoint is not one of the run's own

    def on_train_begin(self, args, state, control, **kwargs):
        if self.checkpoint is not None:
            saved = state_file(self.states, self.checkpoint.name, args.process_index)
            for name, part in self.parts.items():
                part.restore(json.loads(saved.read_text(encoding="utf-8"))["parts"][name])

    def on_step_end(self, args, state, control, **kwargs):
        # the Trainer's own flow callback ran first: where it saves, or will at the epoch's end,
        # or training ends here, that checkpoint carries the stop
        epoch_end = args.save_strategy == "epoch" and float(state.epoch).is_integer()
        if self.stop_requested and not (control.should_save or epoch_end or state.global_step >= state.max_steps):
            control.should_save = self.on_request = True

    def on_save(self, args, state, control, **kwargs):
        name = f"checkpoint-{state.global_step}"
        saved = {"parts": {n: part.resume_state() for n, part in self.parts.items()}, "on_request": self.on_request}
        path = state_file(self.states, name, args.process_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(saved))  # keys unsorted: rows keep their column order
        self.on_request = False
        if self.stop_requested and state.global_step < state.max_steps:
            raise Interrupted(f"training stopped by SIGTERM at step {state.global_step}, after saving "
                              f"{Path(args.output_dir) / name}; run the stage again to continue from there")

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
