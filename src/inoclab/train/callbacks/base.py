"""What every callback is: its entry under an experiment's `callbacks:` (a CallbackConfig: the
dataset it reads, its steps, its files and plots), and the measurement it takes during training
(a Callback: its data loaded, one CSV row per step).

Callbacks import their implementation (evals, generation) inside `load` and `measure`, so that
loading params.yaml stays light; the train stage's code deps follow those imports for the
experiment's own callbacks (workflow.stage_code).
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, ClassVar

from inoclab import paths
from inoclab.params.base import Every, PositiveInt, Strict

if TYPE_CHECKING:
    from inoclab.config import Params


def callback_steps(every: int | str, max_steps: int) -> list[int]:
    """The steps a callback fires at: 0, every N-th step (or 1, 2, 4, 8, ... for `log`), and
    the last step."""
    if every == "log":
        fired = {2 ** k for k in range(max(max_steps, 1).bit_length()) if 2 ** k <= max_steps}
    else:
        fired = set(range(int(every), max_steps + 1, int(every)))
    return sorted(fired | {0, max_steps})


class CallbackConfig(Strict):
    """A measurement taken during training, without gradients, at step 0 (before the first
    update), at the steps of `every` and at the last step. `every: N` fires at N, 2N, ...;
    `every: log` at 1, 2, 4, 8, ... (log-spaced: dense early, where behaviours appear)."""

    dataset: str
    name: str | None = None  # the output file's name; default: the dataset's
    every: Every = "log"
    batch_size: PositiveInt = 32

    kind: ClassVar[str]  # its key under `callbacks:`, and the prefix of its files
    reads: ClassVar[tuple[str, ...]] = ("conversations",)  # the dataset kinds it reads
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)  # the files it writes: the step-indexed CSV first
    needs_grad: ClassVar[bool] = False  # takes gradients: runs outside no-grad inference mode

    @property
    def stem(self) -> str:
        return self.name or self.dataset

    def files(self) -> list[str]:
        """Its file names inside results/<experiment>/callbacks/."""
        return [f"{self.kind}.{self.stem}{suffix}" for suffix in self.suffixes]

    def inputs(self, params: Params) -> list[str]:
        """The files it reads: the dataset as JSONL (tokenized for logprobs)."""
        return [str(paths.dataset(self.dataset))]

    def check(self, params: Params, where: str) -> None:
        """Rules beyond the dataset's kind, when params.yaml loads: raise ParamsError naming `where`."""

    def components(self) -> list:
        """The components it runs besides itself (a measure): their imports are code deps."""
        return []

    def plot(self, params: Params, exp: str) -> dict:
        """`dvc plots show` properties of its CSV."""
        raise NotImplementedError

    def load(self, params: Params, name: str) -> Callback:
        """The measurement with its data read (and checked) before any model is loaded."""
        raise NotImplementedError


class Callback:
    """One declared callback with its data loaded; `measure` returns the CSV row of a step
    (without `step`)."""

    def __init__(self, cfg: CallbackConfig):
        self.cfg = cfg
        self.rows: list[dict] = []

    def measure(self, model, tokenizer, step: int) -> dict:
        raise NotImplementedError

    def describe(self, row: dict) -> str:
        return ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))

    def files(self) -> dict[str, str | list[dict]]:
        """File name -> content: the step-indexed CSV (and any side files)."""
        return {self.cfg.files()[0]: to_csv(self.rows)}

    def resume_state(self) -> dict:
        """What it has measured so far: a checkpoint carries it (train/resume.py)."""
        return {"rows": self.rows}

    def restore(self, state: dict) -> None:
        self.rows = state["rows"]


def to_csv(rows: list[dict]) -> str:
    columns = ["step", *dict.fromkeys(k for r in rows for k in r if k != "step")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _cell(v):
    return "" if isinstance(v, float) and math.isnan(v) else v
