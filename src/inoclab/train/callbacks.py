"""Watching training: block logprobs, MCQ evals and samples at scheduled steps.

Each callback declared under an experiment's `callbacks` in params.yaml measures the model at
step 0 (before the first update), at the steps of its `every` and at the last step. A
measurement runs batched, without gradients, on the model as it is after the optimizer step
(the Trainer has already zeroed the gradients), in the backend's inference mode, and inside a
forked random state: sampling draws from its own seed, and training continues with exactly the
random state it had, so the final weights are the same with and without callbacks.

Outputs, in results/<experiment>/callbacks/ (written when training ends, atomically):
- `logprobs.<name>.csv`: step, then per block tag the mean Σ logprob of its blocks (`<tag>`) and
  the mean per-token logprob (`<tag>_per_token`);
- `mcq.<name>.csv`: step, accuracy, p_correct, p_any_choice;
- `samples.<name>.jsonl`: one record per step and prompt (prompt, prefill, completion), and
  `samples.<name>.csv`: step, mean completion length in characters, and the trait rate when the
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
from inoclab.io import InputError, write_jsonl, write_text
from inoclab.models.generate import generate
from inoclab.params.callbacks import (
    CallbackConfig,
    LogprobCallbackConfig,
    MCQCallbackConfig,
    SamplingCallbackConfig,
)
from inoclab.tokenize import read_tokenized


def schedule(every: int | str, max_steps: int) -> list[int]:
    """The steps a callback fires at: 0, every N-th step (or 1, 2, 4, 8, ... for `log`), and
    the last step."""
    if every == "log":
        fired = {2 ** k for k in range(max(max_steps, 1).bit_length()) if 2 ** k <= max_steps}
    else:
        fired = set(range(int(every), max_steps + 1, int(every)))
    return sorted(fired | {0, max_steps})


class Probe:
    """One callback's measurement; `measure` returns the CSV row of a step (without `step`)."""

    kind = ""

    def __init__(self, cfg: CallbackConfig):
        self.cfg = cfg
        self.rows: list[dict] = []

    def measure(self, model, tokenizer, step: int) -> dict:
        raise NotImplementedError

    def describe(self, row: dict) -> str:
        return ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))

    def files(self) -> dict[str, str | list[dict]]:
        """File name -> content: the step-indexed CSV (and any side files)."""
        return {paths.callback_file(self.kind, self.cfg.stem): to_csv(self.rows)}


class LogprobProbe(Probe):
    kind = "logprobs"

    def __init__(self, cfg: LogprobCallbackConfig, rows: list[dict]):
        super().__init__(cfg)
        self.data = rows

    def measure(self, model, tokenizer, step):
        lps = token_logprobs(model, self.data, tokenizer.pad_token_id, self.cfg.batch_size)
        tags = summarize_blocks(block_logprobs(self.data, lps))
        row = {tag: s["logprob_sum"] for tag, s in tags.items()}
        row.update({f"{tag}_per_token": s["logprob_mean"] for tag, s in tags.items()})
        return row


class MCQProbe(Probe):
    kind = "mcq"

    def __init__(self, cfg: MCQCallbackConfig, questions: list[MCQ], seed: int, max_seq_length: int):
        super().__init__(cfg)
        self.questions, self.seed, self.max_seq_length = questions, seed, max_seq_length

    def measure(self, model, tokenizer, step):
        summary, _ = evaluate_mcq(model, tokenizer, self.questions, self.seed, self.cfg.format,
                                  self.cfg.batch_size, self.max_seq_length)
        return {k: summary[k] for k in ("accuracy", "p_correct", "p_any_choice")}


class SamplingProbe(Probe):
    kind = "sampling"

    def __init__(self, cfg: SamplingCallbackConfig, prompts: list[list[dict]], seed: int,
                 scorer: Callable[[str], bool] | None = None):
        super().__init__(cfg)
        self.prompts, self.seed, self.scorer = prompts, seed, scorer
        self.samples: list[dict] = []

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
        return {**super().files(), paths.callback_file(self.kind, self.cfg.stem, ".jsonl"): self.samples}


def to_csv(rows: list[dict]) -> str:
    columns = ["step", *dict.fromkeys(k for r in rows for k in r if k != "step")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _cell(v):
    return "" if isinstance(v, float) and math.isnan(v) else v


class WatchCallback(TrainerCallback):
    """Runs the probes at their scheduled steps; writes their files into `out_dir` at the end."""

    def __init__(self, probes: list[Probe], tokenizer, out_dir: str | Path,
                 inference: Callable[[object], contextlib.AbstractContextManager] | None = None):
        self.probes, self.tokenizer, self.out_dir = probes, tokenizer, Path(out_dir)
        self.inference = inference or (lambda model: contextlib.nullcontext())
        self.steps: dict[int, set[int]] = {}  # probe index -> its steps
        self.fired: list[tuple[str, int]] = []  # (file stem, step), in order: what ran when

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.steps = {i: set(schedule(p.cfg.every, state.max_steps)) for i, p in enumerate(self.probes)}
        self._fire(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._fire(model, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for p in self.probes:
            for fname, content in p.files().items():
                if isinstance(content, str):
                    write_text(self.out_dir / fname, content)
                else:
                    write_jsonl(self.out_dir / fname, content)

    def _fire(self, model, step: int) -> None:
        due = [p for i, p in enumerate(self.probes) if step in self.steps[i]]
        if not due:
            return
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), torch.no_grad(), self.inference(model):
            for p in due:
                row = p.measure(model, self.tokenizer, step)
                p.rows.append({"step": step, **row})
                self.fired.append((paths.callback_file(p.kind, p.cfg.stem, ""), step))
                print(f"step {step}: {p.kind} {p.cfg.stem}: {p.describe(row)}", flush=True)


def probes_for(params, name: str) -> list[Probe]:
    """The probes of an experiment's `callbacks`, with their data loaded."""
    cbs = params.experiment(name).callbacks
    seed = params.experiment_training(name).seed
    probes: list[Probe] = []
    for c in cbs.logprobs:
        probes.append(LogprobProbe(c, read_tokenized(paths.tokenized(params.model_slug, c.dataset))))
    for c in cbs.mcq:
        probes.append(MCQProbe(c, [q for _, q in read_mcq(paths.dataset(c.dataset))], params.seed,
                               params.tokenize.max_seq_length))
    for c in cbs.sampling:
        path = paths.dataset(c.dataset)
        if params.is_preference(c.dataset):
            prompts = [p.prompt_messages() for _, p in read_preference(path)]
        else:
            prompts = [prompt_messages(conv) for _, conv in read_conversations(path)]
        if c.n_prompts is not None and c.n_prompts > len(prompts):
            raise InputError(f"params.yaml: {params.declared_key(name)}.callbacks.sampling ({c.stem}): "
                             f"n_prompts={c.n_prompts}, but {path} has {len(prompts)} prompts")
        probes.append(SamplingProbe(c, prompts[: c.n_prompts], seed, trait_rule(params, c.rule) if c.rule else None))
    return probes
