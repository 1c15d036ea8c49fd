"""Step time and peak GPU memory of the unsloth backend against transformers+peft, in one run.

For each experiment named, each backend trains the same model on the same tokenized data
(results/tokenized/<model>/<dataset>.parquet, built by the pipeline) with the experiment's own
settings for --steps steps, in a process of its own (unsloth patches transformers when it is
imported). Prints ms/step (median after --warmup), peak GPU memory, the loss at the first and
last logged step, and the ratios unsloth / hf. Needs a CUDA GPU and the gpu extra.

  python bench/gpu_backends.py --experiments baseline inoc_alpha0.5 circuit_breaker
  python bench/gpu_backends.py --shape qwen2-0.5b   # a Qwen2-0.5B-shaped model, random weights
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Qwen2-0.5B's shape (random weights, the tiny tokenizer's vocabulary): what a real checkpoint
# costs per step, where no checkpoint can be downloaded
SHAPES = {
    "qwen2-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=2048),
}


def worker(args) -> dict:
    """One backend, one experiment: train, time each step, report."""
    from inoclab.backends import preload

    preload(args.backend)  # unsloth first, before transformers
    import torch
    from transformers import TrainerCallback

    from inoclab import paths
    from inoclab.backends import get_backend
    from inoclab.config import load_params
    from inoclab.tokenize import read_tokenized
    from inoclab.train.circuit_breaker import break_symmetry
    from inoclab.train.methods import make_trainer

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self.losses, self._t = [], [], 0.0

        def on_step_begin(self, a, state, control, **kw):
            torch.cuda.synchronize()
            self._t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self._t)

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    params = load_params()
    exp = params.experiment(args.experiment)
    cfg = params.experiment_training(args.experiment).model_copy(
        update={"max_steps": args.steps, "logging_steps": max(1, args.steps // 10)})
    rows = read_tokenized(paths.tokenized(params.model_slug, exp.dataset))
    backend = get_backend(args.backend, dtype=args.dtype, max_seq_length=params.tokenize.max_seq_length)
    torch.manual_seed(cfg.seed or 0)
    model, tokenizer = backend.load(args.model or str(paths.TINY_MODEL))
    model = backend.make_trainable(model, cfg)
    if cfg.task_type == "circuit_breaker":
        break_symmetry(model, cfg.circuit_breaker_lora_init_std, cfg.seed or 0)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as d:
        make_trainer(model, tokenizer, rows, cfg, d, callbacks=[timer], save_strategy="no",
                     disable_tqdm=True).train()
    return {
        "backend": args.backend, "experiment": args.experiment, "task": cfg.task_type,
        "paired": cfg.method.name == "logit_manipulation", "dtype": str(next(p for p in model.parameters()).dtype),
        "batch": cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps,
        "ms_per_step": 1000 * statistics.median(timer.times[args.warmup:]),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20,
        "first_loss": timer.losses[0] if timer.losses else None,
        "last_loss": timer.losses[-1] if timer.losses else None,
    }


def build_shape(shape: str, out: Path) -> str:
    """A model of `shape` with random weights and the tiny model's tokenizer, saved to `out`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from inoclab import paths

    config = AutoConfig.from_pretrained(paths.TINY_MODEL)
    for k, v in SHAPES[shape].items():
        setattr(config, k, v)
    config.head_dim = config.hidden_size // config.num_attention_heads
    config.layer_types = ["full_attention"] * config.num_hidden_layers
    config.max_window_layers = config.num_hidden_layers
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(paths.TINY_MODEL).save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"{shape}: {n / 1e6:.0f}M parameters (random weights) in {out}", flush=True)
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", nargs="+", default=["baseline", "inoc_alpha0.5", "circuit_breaker"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--dtype", default="bfloat16", help="the same for both backends")
    ap.add_argument("--shape", choices=sorted(SHAPES), help="train a random-weight model of this shape")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--experiment", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    rows = []
    with tempfile.TemporaryDirectory() as d:
        model = build_shape(args.shape, Path(d) / args.shape) if args.shape else None
        for exp in args.experiments:
            for backend in ("hf", "unsloth"):
                cmd = [sys.executable, __file__, "--worker", "--backend", backend, "--experiment", exp,
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--dtype", args.dtype]
                cmd += ["--model", model] if model else []
                proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
                result = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode or not result:
                    print(proc.stdout[-3000:], proc.stderr[-6000:], sep="\n", file=sys.stderr)
                    sys.exit(f"{backend} on {exp} failed (exit {proc.returncode})")
                rows.append(json.loads(result[0][len("RESULT "):]))
                r = rows[-1]
                print(f"{exp:16s} {backend:8s} {r['ms_per_step']:7.1f} ms/step  peak {r['peak_gpu_mib']:8.0f} MiB  "
                      f"loss {r['first_loss']:.3f} -> {r['last_loss']:.3f}  ({r['dtype']}, batch {r['batch']})",
                      flush=True)
    print(f"model: {args.shape or 'tiny'}  steps {args.steps} (median after {args.warmup})  dtype {args.dtype}")
    for exp in args.experiments:
        hf, us = (next(r for r in rows if r["experiment"] == exp and r["backend"] == b) for b in ("hf", "unsloth"))
        print(f"{exp:16s} unsloth / hf: step time {us['ms_per_step'] / hf['ms_per_step']:.2f}  "
              f"peak memory {us['peak_gpu_mib'] / hf['peak_gpu_mib']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
