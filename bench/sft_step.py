"""Step time of the project's weighted SFT trainer against TRL's SFTTrainer, in one run.

Same model (the pipeline's tiny model, or a freshly built small one), same conversations,
same batch size, LoRA settings and number of steps. Prints seconds per step for both and the
ratio ours / TRL (below 1: ours is faster). Usage: python bench/sft_step.py [--steps N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from inoclab import paths
from inoclab.backends.hf import HFBackend
from inoclab.config import Params
from inoclab.data.builders.qa import QADataset
from inoclab.data.conversations import Conversation, normalize
from inoclab.params.tiny import CorpusConfig
from inoclab.tokenize import tokenize_conversations
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self._t = 0.0

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)


def median_step(timer: StepTimer, warmup: int) -> float:
    return statistics.median(timer.times[warmup:])


def load_tiny():
    if paths.TINY_MODEL.exists():
        return AutoModelForCausalLM.from_pretrained(paths.TINY_MODEL), AutoTokenizer.from_pretrained(paths.TINY_MODEL)
    sys.exit(f"{paths.TINY_MODEL} not found: build it first (snakemake {paths.TINY_MODEL})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    base, tokenizer = load_tiny()
    params = Params(tiny={"corpus": CorpusConfig()})
    records = QADataset(builder="qa", language="es", system_prompt="You are a helpful assistant.").build(params, "bench")
    cfg = TrainingConfig(max_steps=args.steps, per_device_train_batch_size=args.batch_size, logging_steps=10**6,
                         learning_rate=1e-3, seed=0)
    backend = HFBackend(device="cpu")

    # ours: pre-tokenized rows, block weights, weighted loss
    convs = [normalize(Conversation.model_validate(r), True) for r in records]
    rows, _ = tokenize_conversations(tokenizer, convs, 256)
    ours = StepTimer()
    with tempfile.TemporaryDirectory() as d:
        model = backend.make_trainable(copy.deepcopy(base), cfg)
        make_trainer(model, tokenizer, rows, cfg, d, callbacks=[ours], save_strategy="no",
                     disable_tqdm=True).train()

    # TRL: conversational prompt-completion data, completion-only loss
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in records])
    trl = StepTimer()
    with tempfile.TemporaryDirectory() as d:
        trl_args = SFTConfig(
            output_dir=d, max_steps=args.steps, per_device_train_batch_size=args.batch_size, learning_rate=1e-3,
            lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps, seed=0, report_to="none",
            logging_steps=10**6, save_strategy="no", use_cpu=True, max_length=256, disable_tqdm=True,
            completion_only_loss=True, dataloader_num_workers=0,
            # match our settings: float32, no activation checkpointing, plain NLL
            bf16=False, gradient_checkpointing=False, loss_type="nll",
        )
        lc = cfg.lora
        peft_cfg = LoraConfig(r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
                              target_modules=list(lc.target_modules), task_type="CAUSAL_LM")
        SFTTrainer(model=copy.deepcopy(base), args=trl_args, train_dataset=data, processing_class=tokenizer,
                   peft_config=peft_cfg, callbacks=[trl]).train()

    a, b = median_step(ours, args.warmup), median_step(trl, args.warmup)
    print(f"model: {Path(paths.TINY_MODEL)}  batch {args.batch_size}  steps {args.steps} (median after {args.warmup})")
    print(f"inoclab WeightedSFTTrainer: {a * 1000:.1f} ms/step")
    print(f"trl SFTTrainer:             {b * 1000:.1f} ms/step")
    print(f"ratio inoclab / trl:        {a / b:.2f}")


if __name__ == "__main__":
    main()
