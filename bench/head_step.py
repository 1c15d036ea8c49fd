"""The LM head at weighted positions only, against the full-logits loss and TRL's SFTTrainer,
on the embedded real model (smollm2-135m, vocabulary 49,152), in one run.

Each path trains LoRA for the same steps on the same conversations at the same batch size, in a
process of its own so that its peak RSS is its own:
- `weighted`: the project's trainer (models/head.py: the head at weighted positions only);
- `full`: the same trainer with the head over every position of the padded batch (the loss
  inoclab had before), the peer this change is measured against;
- `trl`: TRL's SFTTrainer, prompt-completion data, completion-only loss.
The paths take turns for `--rounds` rounds, so that a slow spell of a shared machine does not
fall on one path only; each path's step time is its best round's median. Prints per path: step
time, peak RSS, the peak's rise over the RSS once the model is
loaded (the weights are memory-mapped: their pages count once a step touches them), the matmul
FLOPs of one step (torch's FLOP counter) and the achieved GFLOP/s against this machine's float32
matmul rate, measured in the same run; then the ratios weighted / full. Each path runs on the
allocator the stages use (tcmalloc where installed, src/inoclab/allocator.py); `--allocator system`
measures glibc's malloc, whose heap keeps most of what a step frees. Usage:

    python bench/head_step.py [--steps 8] [--warmup 2] [--rounds 2] [--batch-size 16] [--turns 1] [--checkpointing]

Needs results/models/smollm2-135m (`snakemake results/models/smollm2-135m`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inoclab import allocator

PATHS = ("weighted", "full", "trl")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conversations(turns: int) -> list[dict]:
    """The held-out Spanish QA records of the tiny world, `turns` to a conversation: every
    assistant turn is trained, as in multi-turn chat data (1: the shape of the smollm2 runs' data)."""
    from inoclab.config import Params
    from inoclab.data.builders.qa import QADataset
    from inoclab.params.tiny import CorpusConfig

    records = QADataset(builder="qa", language="es", entities="heldout").build(
        Params(tiny={"corpus": CorpusConfig()}), "bench")
    return [{"messages": [m for r in records[i:i + turns] for m in r["messages"]]}
            for i in range(0, len(records) - turns + 1, turns)]


def one_path(path: str, steps: int, batch_size: int, model_dir: str, checkpointing: bool, turns: int) -> dict:
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import TrainerCallback

    from inoclab.backends.hf import HFBackend
    from inoclab.data.conversations import Conversation, normalize
    from inoclab.tokenize import tokenize_conversations
    from inoclab.train.loss import abs_weight_sum, normalise
    from inoclab.train.settings import TrainingConfig
    from inoclab.train.sft import rows_trainer
    from inoclab.train.trainer import WeightedSFTTrainer

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

    class FullLogitsTrainer(WeightedSFTTrainer):
        """The weighted loss with the head over every position, then the weighted ones selected."""

        def batch_loss(self, model, inputs, abs_weight_total):
            ids, w = inputs["input_ids"], inputs["weights"]
            logits = model(input_ids=ids, attention_mask=inputs["attention_mask"]).logits
            trained = w[:, 1:] != 0
            ce = F.cross_entropy(logits[:, :-1][trained].float(), ids[:, 1:][trained], reduction="none")
            total = abs_weight_sum(w) if abs_weight_total is None else abs_weight_total
            return normalise((ce * w[:, 1:][trained]).sum(), total)

    torch.manual_seed(0)
    backend = HFBackend(device="cpu")
    model, tokenizer = backend.load(model_dir)
    records = conversations(turns)
    cfg = TrainingConfig(max_steps=steps, per_device_train_batch_size=batch_size, logging_steps=10**6,
                         learning_rate=1e-3, seed=0)
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as d:
        if path == "trl":
            from datasets import Dataset
            from peft import LoraConfig
            from trl import SFTConfig, SFTTrainer

            data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}
                                      for r in records])
            lc = cfg.lora
            trainer = SFTTrainer(
                model=model, processing_class=tokenizer, train_dataset=data, callbacks=[timer],
                peft_config=LoraConfig(r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
                                       target_modules=list(lc.target_modules), task_type="CAUSAL_LM"),
                args=SFTConfig(output_dir=d, max_steps=steps, per_device_train_batch_size=batch_size,
                               learning_rate=1e-3, lr_scheduler_type=cfg.lr_scheduler_type,
                               warmup_steps=cfg.warmup_steps, seed=0, report_to="none", logging_steps=10**6,
                               save_strategy="no", use_cpu=True, max_length=MAX_LENGTH, disable_tqdm=True,
                               completion_only_loss=True, dataloader_num_workers=0, bf16=False,
                               gradient_checkpointing=checkpointing, loss_type="nll",
                               gradient_checkpointing_kwargs={"use_reentrant": False}))
        else:
            convs = [normalize(Conversation.model_validate(r), True) for r in records]
            rows, _ = tokenize_conversations(tokenizer, convs, MAX_LENGTH)
            trainer = rows_trainer(WeightedSFTTrainer if path == "weighted" else FullLogitsTrainer,
                                   backend.make_trainable(model, cfg), tokenizer, rows, cfg, d, None, [timer],
                                   save_strategy="no", disable_tqdm=True, gradient_checkpointing=checkpointing,
                                   gradient_checkpointing_kwargs={"use_reentrant": False})
        with torch.no_grad():  # page the memory-mapped weights in: the rise below is the training's own
            for p in trainer.model.parameters():
                p.sum()
        loaded = rss_mb()
        trainer.train()
        trained_peak = peak_rss_mb()  # before the FLOP count below, which runs one more step
        batch = next(iter(trainer.get_train_dataloader()))
        with FlopCounterMode(display=False) as counter:
            trainer.compute_loss(trainer.model, batch).backward()
    return {"path": path, "step_s": statistics.median(timer.times[WARMUP:]), "peak_rss_mb": trained_peak,
            "loaded_rss_mb": loaded, "flops": counter.get_total_flops(),
            "tokens": int(batch["attention_mask"].sum()), "padded": int(batch["attention_mask"].numel())}


WARMUP = 2
MAX_LENGTH = 2048


def matmul_peak_gflops(n: int = 2048, repeat: int = 10) -> float:
    """This machine's float32 matmul rate with torch's threads: the peak the steps are held against."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def main() -> None:
    global WARMUP
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="turns each path takes (its best round counts)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default="results/models/smollm2-135m")
    ap.add_argument("--checkpointing", action="store_true",
                    help="recompute decoder activations in the backward pass (as unsloth does on a GPU)")
    ap.add_argument("--turns", type=int, default=1,
                    help="QA exchanges per conversation (1: the shape of the smollm2 runs' training data)")
    ap.add_argument("--allocator", choices=("tcmalloc", "system"),
                    default="tcmalloc" if allocator.tcmalloc() else "system",
                    help="malloc of the measured processes (default: the stages' own, tcmalloc where installed)")
    ap.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)  # one path, in this process
    args = ap.parse_args()
    WARMUP = args.warmup
    if args.path:
        print(json.dumps(one_path(args.path, args.steps, args.batch_size, args.model, args.checkpointing, args.turns)))
        return
    if not Path(args.model).is_dir():
        sys.exit(f"{args.model} not found: build it first (snakemake {args.model})")
    if args.allocator == "tcmalloc" and not allocator.tcmalloc():
        sys.exit("tcmalloc is not installed (Debian/Ubuntu: apt install libtcmalloc-minimal4)")
    env = (allocator.with_tcmalloc({**os.environ, allocator.ENV: ""}) if args.allocator == "tcmalloc"
           else {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    rounds: dict[str, list[dict]] = {path: [] for path in PATHS}
    for _ in range(args.rounds):
        for path in PATHS:
            out = subprocess.run([sys.executable, __file__, "--path", path, *sys.argv[1:]], check=True,
                                 capture_output=True, text=True, env=env).stdout
            rounds[path].append(json.loads(out.strip().splitlines()[-1]))
    res = {path: {**min(runs, key=lambda r: r["step_s"]), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
           for path, runs in rounds.items()}
    peak = matmul_peak_gflops()
    r = res["weighted"]
    print(f"model {args.model}  batch {args.batch_size} ({r['tokens']} tokens in {r['padded']} padded positions)  "
          f"steps {args.steps} (median after {args.warmup}, best of {args.rounds} rounds)  activation checkpointing {'on' if args.checkpointing else 'off'}  "
          f"turns {args.turns}  allocator {args.allocator}")
    print(f"float32 matmul peak here: {peak:.0f} GFLOP/s")
    print(f"{'path':9} {'s/step':>7} {'peak RSS MB':>12} {'rise MB':>8} {'GFLOP/step':>11} {'GFLOP/s':>8} {'of peak':>8}")
    for path, r in res.items():
        rise = r["peak_rss_mb"] - r["loaded_rss_mb"]
        print(f"{path:9} {r['step_s']:7.2f} {r['peak_rss_mb']:12.0f} {rise:8.0f} {r['flops'] / 1e9:11.1f} "
              f"{r['flops'] / 1e9 / r['step_s']:8.1f} {r['flops'] / 1e9 / r['step_s'] / peak:8.0%}")
    w, f = res["weighted"], res["full"]
    print(f"weighted / full: step time {w['step_s'] / f['step_s']:.2f}, peak RSS {w['peak_rss_mb'] / f['peak_rss_mb']:.2f}, "
          f"rise over the loaded model {(w['peak_rss_mb'] - w['loaded_rss_mb']) / (f['peak_rss_mb'] - f['loaded_rss_mb']):.2f}")


if __name__ == "__main__":
    main()
