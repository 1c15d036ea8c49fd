"""Running callbacks during training: each measurement runs batched on the model as it is after
the optimizer step (the Trainer has already zeroed the gradients), without gradients and in the
backend's inference mode (but for those that take gradients: callbacks/pressure.py), and inside
a forked random state: sampling draws from its own seed, and training continues with exactly the
random state it had, so the final weights are the same with and without callbacks.

Outputs, in results/<experiment>/callbacks/ (written when training ends, atomically; the folder
exists for every experiment, so that one workflow rule trains them all): each callback's files,
and `index.json`: each declared callback (kind, name, dataset, files) and the steps it ran at,
an empty list when the experiment declares none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import TrainerCallback

from inoclab import paths
from inoclab.io import write_json, write_jsonl, write_text
from inoclab.train.callbacks.base import Callback, callback_steps

INDEX = paths.callbacks_index("_").name  # index.json


class CallbackRunner(TrainerCallback):
    """Runs the callbacks at their steps; writes their files and the index into `out_dir` at the end."""

    def __init__(self, callbacks: list[Callback], tokenizer, out_dir: str | Path,
                 inference: Callable[[object], contextlib.AbstractContextManager] | None = None):
        self.callbacks, self.tokenizer, self.out_dir = callbacks, tokenizer, Path(out_dir)
        self.inference = inference or (lambda model: contextlib.nullcontext())
        self.steps: dict[int, set[int]] = {}  # callback index -> its steps
        self.fired: list[tuple[str, int]] = []  # (file stem, step), in order: what ran when

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.steps = {i: set(callback_steps(c.cfg.every, state.max_steps)) for i, c in enumerate(self.callbacks)}
        if state.global_step == 0:  # a resumed run measured its first steps before the checkpoint
            self._fire(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._fire(model, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for c in self.callbacks:
            for fname, content in c.files().items():
                if isinstance(content, str):
                    write_text(self.out_dir / fname, content)
                else:
                    write_jsonl(self.out_dir / fname, content)
        write_json(self.out_dir / INDEX, [
            {"kind": c.cfg.kind, "name": c.cfg.stem, "dataset": c.cfg.dataset, "files": c.cfg.files(),
             "steps": [row["step"] for row in c.rows]} for c in self.callbacks])

    def resume_state(self) -> dict:
        """Every callback's measurements so far, and the order they ran in (train/resume.py)."""
        return {"callbacks": [c.resume_state() for c in self.callbacks], "fired": self.fired}

    def restore(self, state: dict) -> None:
        for c, saved in zip(self.callbacks, state["callbacks"], strict=True):
            c.restore(saved)
        self.fired = [tuple(f) for f in state["fired"]]

    def _fire(self, model, step: int) -> None:
        due = [c for i, c in enumerate(self.callbacks) if step in self.steps[i]]
        if not due:
            return
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            # those that read outputs only: without gradients, in the backend's inference mode (once
            # for them all); then those that take gradients, on the model as it trains
            plain = [c for c in due if not c.cfg.needs_grad]
            if plain:
                with torch.no_grad(), self.inference(model):
                    for c in plain:
                        self._measure(c, model, step)
            for c in due:
                if c.cfg.needs_grad:
                    self._measure(c, model, step)

    def _measure(self, c: Callback, model, step: int) -> None:
        row = c.measure(model, self.tokenizer, step)
        c.rows.append({"step": step, **row})
        self.fired.append((f"{c.cfg.kind}.{c.cfg.stem}", step))
        print(f"step {step}: {c.cfg.kind} {c.cfg.stem}: {c.describe(row)}", flush=True)

