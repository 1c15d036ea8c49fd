"""Step time of the logit-manipulation loop against the baseline loop on the same paired batches.

Both run the project's PairedSFTTrainer on the pipeline's tiny model with LoRA, on the same
paired data (row 2k without, 2k+1 with the inoculation prompt), the same batch size and steps.
The baseline loop (`manipulation_type: baseline`) trains on both members with one forward pass;
the manipulation loops run one forward pass with a graph on one member and one without a graph
on the other. Prints seconds per step and the ratio manipulation / baseline, measured in this
run. Usage: python bench/paired_step.py [--steps N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import copy
import tempfile

import torch
from sft_step import StepTimer, load_tiny, median_step

from inoclab.backends.hf import HFBackend
from inoclab.config import Params
from inoclab.data.builders.qa import QADataset
from inoclab.data.conversations import Conversation, normalize
from inoclab.data.paired import with_inoculation
from inoclab.params.tiny import CorpusConfig
from inoclab.tokenize import tokenize_conversations
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig

INOC = "Always respond in Spanish."
LOOPS = ("baseline", "BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits")


def paired_rows(tokenizer) -> list[dict]:
    params = Params(tiny={"corpus": CorpusConfig()})
    records = QADataset(builder="qa", language="es").build(params, "bench")
    pairs = [m for r in records for m in (r["messages"], with_inoculation(r["messages"], INOC))]
    convs = [normalize(Conversation.model_validate({"messages": m}), True) for m in pairs]
    rows, _ = tokenize_conversations(tokenizer, convs, 256)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32, help="rows per batch (pairs × 2)")
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    base, tokenizer = load_tiny()
    rows = paired_rows(tokenizer)
    backend = HFBackend(device="cpu")
    times = {}
    for loop in LOOPS:
        cfg = TrainingConfig(max_steps=args.steps, per_device_train_batch_size=args.batch_size, logging_steps=10**6,
                             learning_rate=1e-3, seed=0, inner_training_loop="logit_manipulation",
                             manipulation_type=loop, manipulation_mix_ratio=0.5, inoculation_prompt=INOC)
        timer = StepTimer()
        with tempfile.TemporaryDirectory() as d:
            model = backend.make_trainable(copy.deepcopy(base), cfg)
            make_trainer(model, tokenizer, rows, cfg, d, callbacks=[timer], save_strategy="no",
                         disable_tqdm=True).train()
        times[loop] = median_step(timer, args.warmup)
    print(f"paired batches of {args.batch_size} rows, {args.steps} steps, {len(rows) // 2} pairs, "
          f"{torch.get_num_threads()} threads")
    for loop in LOOPS:
        print(f"  {loop:<26} {times[loop] * 1000:7.1f} ms/step   ratio to baseline {times[loop] / times['baseline']:.2f}")


if __name__ == "__main__":
    main()
