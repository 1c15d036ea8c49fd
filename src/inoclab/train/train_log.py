"""The training log, written through dvclive (DVC's own logger) as training goes:
results/<run>/train_log/ holds `metrics.json` (the last value of each metric, and its step) and
`plots/metrics/<metric>.tsv` (one row per logged step: the optimizer step and the value). So
`dvc plots show`, `dvc metrics show`, `dvc exp show` and DVC's Studio integration read the curves
while the run is still going (dvc.yaml declares them at the top level).

Metric names are those of dvclive's Hugging Face callback (`loss`, `grad_norm`, `learning_rate`,
`epoch`, and each method's own monitors), but this callback differs from it in three ways, all
for the same bytes on every run: the x axis is the Trainer's optimizer step, not a count of log
calls; only training records are logged, not the end-of-run summary with its wall-clock
`train_runtime`; and nothing of the machine is logged (the Trainer's arguments hold paths).

The last step is always logged, so that every curve ends where training did (and a run shorter
than `logging_steps` has a curve at all). A resumed run starts the folder again from the log history its checkpoint carries, then goes on:
the folder always holds the records of exactly the steps trained, and an interrupted-and-resumed
run ends with an uninterrupted run's bytes (tests/test_resume.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

from dvclive import Live
from dvclive.utils import standardize_metric_name
from scmrepo.exceptions import SCMError
from transformers import TrainerCallback

from inoclab import paths


def train_records(log_history: list[dict]) -> list[dict]:
    """The training records of a Trainer's log history (not the end-of-training summary), their
    metrics in name order: a checkpoint's history comes back from JSON with its keys sorted."""
    return [{"step": entry["step"], "epoch": round(entry.get("epoch") or 0.0, 4),
             **{k: entry[k] for k in sorted(entry) if isinstance(entry[k], int | float) and k not in ("step", "epoch")}}
            for entry in log_history if "loss" in entry]


class _Live(Live):
    def _init_dvc(self):
        # dvclive 3.49 fails in a Git repository without a commit yet (scmrepo's SCMError); this
        # logger uses nothing it reads there
        try:
            super()._init_dvc()
        except SCMError:
            self._dvc_repo = None


def open_live(folder: str | Path) -> Live:
    """A dvclive logger writing into `folder`, emptied first, without the Git/DVC experiment
    machinery (the pipeline's stages are the experiment) and without a report."""
    return _Live(str(folder), resume=False, report=None, save_dvc_exp=False, dvcyaml=None, monitor_system=False)


class TrainLog(TrainerCallback):
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.live = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.live = open_live(self.folder)
        for record in train_records(state.log_history):  # a resumed run's steps before its checkpoint
            self._write(record)

    def on_step_end(self, args, state, control, **kwargs):
        # the last step is logged whatever `logging_steps` is: every curve ends where training did
        if state.global_step >= state.max_steps:
            control.should_log = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        # the Trainer appended the record (with its step) to the history just before this call
        for record in train_records(state.log_history[-1:]):
            self._write(record)

    def on_train_end(self, args, state, control, **kwargs):
        self.live.end()

    def _write(self, record: dict) -> None:
        self.live.step = record["step"]
        for key, value in record.items():
            if key != "step":
                self.live.log_metric(standardize_metric_name(key, "dvclive.huggingface"), value)
        self.live.next_step()  # writes metrics.json (and posts to Studio where DVC is set up to)


def read_train_log(folder: str | Path) -> list[dict]:
    """The records of a train log folder, one dict per logged step in step order: the step (an
    int) and each metric logged at it (floats), named as in the folder (`loss`, `rewards/chosen`)."""
    root = paths.train_log_plots(Path(folder))
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: no train log (expected {root})")
    by_step: dict[int, dict] = {}
    for tsv in sorted(root.rglob("*.tsv")):
        name = tsv.relative_to(root).with_suffix("").as_posix()
        with tsv.open(newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                step = int(row["step"])
                by_step.setdefault(step, {"step": step})[name] = float(row[Path(name).name])
    return [by_step[s] for s in sorted(by_step)]
