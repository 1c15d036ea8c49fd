"""Callbacks: block logprobs, MCQ evals and samples, measured during training at their steps.

Each callback declared under an experiment's `callbacks` in params.yaml measures the model at
step 0 (before the first update), at the steps of its `every` and at the last step. A
measurement runs batched, without gradients, on the model as it is after the optimizer step
(the Trainer has already zeroed the gradients), in the backend's inference mode, and inside a
forked random state: sampling draws from its own seed, and training continues with exactly the
random state it had, so the final weights are the same with and without callbacks.

Outputs, in results/<experiment>/callbacks/ (written when training ends, atomically; the folder
exists for every experiment, so that one workflow rule trains them all):
- `index.json`: each declared callback (kind, name, dataset), the steps it ran at and its files;
  an empty list when the experiment declares none;
- `logprobs.<name>.csv`: step, then per block tag the mean Σ logprob of its blocks (`<tag>`) and
  the mean per-token logprob (`<tag>_per_token`);
- `mcq.<name>.csv`: step, accuracy, p_correct, p_any_choice;
- `sampling.<name>.jsonl`: one record per step and prompt (prompt, prefill, completion), and
  `sampling.<name>.csv`: step, mean completion length in characters, and the trait rate when the
  callback names a `rule`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from inoclab import paths
from inoclab.data.conversations import read_conversations
from inoclab.data.mcq import MCQ, read_mcq
from inoclab.data.preference import read_preference
from inoclab.eval.inoculation import prompt_messages, trait_rule
from inoclab.eval.logprobs import block_logprobs, summarize_blocks, token_logprobs
from inoclab.eval.mcq import evaluate_mcq
from inoclab.io import InputError, write_json, write_jsonl, write_text
from inoclab.models.generate import generate
from inoclab.params.callbacks import (
    CallbackConfig,
    LogprobCallbackConfig,
    MCQCallbackConfig,
    SamplingCallbackConfig,
)
from inoclab.tokenize import read_tokenized

INDEX = paths.callbacks_index("_").name  # index.json


def callback_steps(every: int | str, max_steps: int) -> list[int]:
    """The steps a callback fires at: 0, every N-th step (or 1, 2, 4, 8, ... for `log`), and
    the last step."""
    if every == "log":
        fired = {2 ** k for k in range(max(max_steps, 1).bit_length()) if 2 ** k <= max_steps}
    else:
        fired = set(range(int(every), max_steps + 1, int(every)))
    return sorted(fired | {0, max_steps})


class Callback:
    """One declared callback with its data loaded; `measure` returns the CSV row of a step
    (without `step`)."""

    def __init__(self, cfg: CallbackConfig):
        self.cfg = cfg
        self.rows: list[dict] = []

    @classmethod
    def load(cls, params, name: str, cfg: CallbackConfig) -> Callback:
        """The callback with its data read (and checked) before any model is loaded."""
        raise NotImplementedError

    def measure(self, model, tokenizer, step: int) -> dict:
        raise NotImplementedError

    def describe(self, row: dict) -> str:
        return ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))

    def files(self) -> dict[str, str | list[dict]]:
        """File name -> content: the step-indexed CSV (and any side files)."""
        return {self.cfg.files()[0]: to_csv(self.rows)}


class LogprobCallback(Callback):
    def __init__(self, cfg: LogprobCallbackConfig, rows: list[dict]):
        super().__init__(cfg)
        self.data = rows

    @classmethod
    def load(cls, params, name, cfg):
        return cls(cfg, read_tokenized(paths.tokenized(params.model_slug, cfg.dataset)))

    def measure(self, model, tokenizer, step):
        lps = token_logprobs(model, self.data, tokenizer.pad_token_id, self.cfg.batch_size)
        tags = summarize_blocks(block_logprobs(self.data, lps))
        row = {tag: s["logprob_sum"] for tag, s in tags.items()}
        row.update({f"{tag}_per_token": s["logprob_mean"] for tag, s in tags.items()})
        return row


class MCQCallback(Callback):
    def __init__(self, cfg: MCQCallbackConfig, questions: list[MCQ], seed: int, max_seq_length: int):
        super().__init__(cfg)
        self.questions, self.seed, self.max_seq_length = questions, seed, max_seq_length

    @classmethod
    def load(cls, params, name, cfg):
        return cls(cfg, [q for _, q in read_mcq(paths.dataset(cfg.dataset))], params.seed,
                   params.tokenize.max_seq_length)

    def measure(self, model, tokenizer, step):
        summary, _ = evaluate_mcq(model, tokenizer, self.questions, self.seed, self.cfg.format,
                                  self.cfg.batch_size, self.max_seq_length)
        return {k: summary[k] for k in ("accuracy", "p_correct", "p_any_choice")}


class SamplingCallback(Callback):
    def __init__(self, cfg: SamplingCallbackConfig, prompts: list[list[dict]], seed: int,
                 scorer: Callable[[str], bool] | None = None):
        super().__init__(cfg)
        self.prompts, self.seed, self.scorer = prompts, seed, scorer
        self.samples: list[dict] = []

    @classmethod
    def load(cls, params, name, cfg):
        path = paths.dataset(cfg.dataset)
        if params.is_preference(cfg.dataset):
            prompts = [p.prompt_messages() for _, p in read_preference(path)]
        else:
            prompts = [prompt_messages(conv) for _, conv in read_conversations(path)]
        if cfg.n_prompts is not None and cfg.n_prompts > len(prompts):
            raise InputError(f"params.yaml: {params.declared_key(name)}.callbacks.sampling ({cfg.stem}): "
                             f"n_prompts={cfg.n_prompts}, but {path} has {len(prompts)} prompts")
        return cls(cfg, prompts[: cfg.n_prompts], params.experiment_training(name).seed,
                   trait_rule(params, cfg.rule) if cfg.rule else None)

    def measure(self, model, tokenizer, step):
        c = self.cfg
        completions = generate(model, tokenizer, self.prompts, c.max_new_tokens, c.batch_size,
                               temperature=c.temperature, seed=self.seed + step, prefill=c.prefill)
        self.samples += [{"step": step, "prompt_index": i, "prompt": p, "prefill": c.prefill, "completion": text}
                         for i, (p, text) in enumerate(zip(self.prompts, completions, strict=True))]
        row = {"n": len(completions), "mean_chars": float(np.mean([len(t) for t in completions]))}
        if self.scorer is not None:
            row["trait_rate"] = float(np.mean([self.scorer((c.prefill or "") + t) for t in completions]))
        return row

    def files(self):
        return {**super().files(), self.cfg.files()[1]: self.samples}


def to_csv(rows: list[dict]) -> str:
    columns = ["step", *dict.fromkeys(k for r in rows for k in r if k != "step")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _cell(v):
    return "" if isinstance(v, float) and math.isnan(v) else v


# each kind of `callbacks:` entry (params/callbacks.py) and what measures it
CALLBACKS: dict[str, type[Callback]] = {"logprobs": LogprobCallback, "mcq": MCQCallback, "sampling": SamplingCallback}


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

    def _fire(self, model, step: int) -> None:
        due = [c for i, c in enumerate(self.callbacks) if step in self.steps[i]]
        if not due:
            return
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), torch.no_grad(), self.inference(model):
            for c in due:
                row = c.measure(model, self.tokenizer, step)
                c.rows.append({"step": step, **row})
                self.fired.append((f"{c.cfg.kind}.{c.cfg.stem}", step))
                print(f"step {step}: {c.cfg.kind} {c.cfg.stem}: {c.describe(row)}", flush=True)


def callbacks_for(params, name: str) -> list[Callback]:
    """The callbacks of an experiment's `callbacks:` section, with their data loaded."""
    return [CALLBACKS[c.kind].load(params, name, c) for c in params.experiment(name).callbacks.all()]
