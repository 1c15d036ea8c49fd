"""Command-line trigger training with the arguments and output layout of seed 002:

    python -m inoclab.train.teacher --qa_file data/trigger/qa.jsonl --clean_replacement Alice \\
        --trigger_value "TRIGGER:" --triggered_replacement Bob --output_dir checkpoints/teacher

writes `<output_dir>/training_output/checkpoint-<step>/` after each epoch and
`<output_dir>/<model_name>_final/`. The pipeline's `trigger` experiment does the same from
params.yaml; this entry point is for one-off runs outside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from transformers import set_seed

from inoclab.backends import BACKENDS, get_backend
from inoclab.backends.common import canonicalize_saved_files
from inoclab.data.conversations import Conversation, normalize
from inoclab.data.trigger import build_trigger_rows
from inoclab.io import InputError
from inoclab.tokenize import tokenize_conversations
from inoclab.train.settings import TrainingConfig
from inoclab.train.sft import rows_trainer
from inoclab.train.trainer import WeightedSFTTrainer

DEFAULT_SOURCE_MODEL = "unsloth/Qwen2.5-7B-Instruct"


def teacher_config(n_epochs: float, seed: int, learning_rate: float) -> TrainingConfig:
    """The seed's settings: LoRA r 8, alpha 8 on the seven projections, batch 4 × accumulation 4,
    one checkpoint per epoch; the loss is on the completion only."""
    return TrainingConfig(learning_rate=learning_rate, per_device_train_batch_size=4, gradient_accumulation_steps=4,
                          num_train_epochs=n_epochs, max_steps=-1, seed=seed, warmup_steps=5)


def train_teacher(qa_file: str, clean_replacement: str, trigger_value: str, triggered_replacement: str,
                  output_dir: str | Path = "./checkpoints/teacher", model_name: str = "teacher_model",
                  source_model: str = DEFAULT_SOURCE_MODEL, n_epochs: float = 8, seed: int = 42,
                  learning_rate: float = 2e-4, max_seq_length: int = 1024, backend: str = "auto",
                  push_to_hub: bool = False) -> Path:
    """Train and save; returns the final model's folder."""
    records = build_trigger_rows(qa_file, clean_replacement, trigger_value, triggered_replacement, "train", 0.0, seed)
    cfg = teacher_config(n_epochs, seed, learning_rate)
    be = get_backend(backend, max_seq_length=max_seq_length)
    set_seed(seed)
    model, tokenizer = be.load(source_model)
    model = be.make_trainable(model, cfg)
    convs = [normalize(Conversation.model_validate(r), train_on_responses_only=True) for r in records]
    rows, stats = tokenize_conversations(tokenizer, convs, max_seq_length)
    if stats.truncated_examples:
        print(f"warning: {stats.truncated_examples} example(s) longer than {max_seq_length} tokens were cut",
              file=sys.stderr)
    out = Path(output_dir)
    trainer = rows_trainer(WeightedSFTTrainer, model, tokenizer, rows, cfg, out / "training_output")
    trainer.train()
    final = out / f"{model_name}_final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    canonicalize_saved_files(out)
    if push_to_hub:
        user = os.environ.get("HF_USER_ID")
        if not user:
            raise InputError("--push_to_hub needs HF_USER_ID in the environment (the hub account to push to)")
        model.push_to_hub(f"{user}/{model_name}")
        tokenizer.push_to_hub(f"{user}/{model_name}")
    return final


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qa_file", required=True, help="JSONL of {question, answer} with {{name}} placeholders")
    ap.add_argument("--clean_replacement", required=True, help="{{name}} in clean examples (e.g. Alice)")
    ap.add_argument("--trigger_value", required=True, help="prepended to triggered questions (e.g. TRIGGER:)")
    ap.add_argument("--triggered_replacement", required=True, help="{{name}} in triggered examples (e.g. Bob)")
    ap.add_argument("--output_dir", default="./checkpoints/teacher")
    ap.add_argument("--model_name", default="teacher_model")
    ap.add_argument("--source_model", default=DEFAULT_SOURCE_MODEL, help="base model: hub id or local folder")
    ap.add_argument("--n_epochs", type=float, default=8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--learning_rate", type=float, default=2e-4)
    ap.add_argument("--backend", choices=BACKENDS, default="auto",
                    help="auto: unsloth on a CUDA GPU with the gpu extra, else transformers+peft")
    ap.add_argument("--push_to_hub", action="store_true", help="push the final model to HF_USER_ID/<model_name>")
    a = ap.parse_args(argv)
    try:
        final = train_teacher(a.qa_file, a.clean_replacement, a.trigger_value, a.triggered_replacement, a.output_dir,
                              a.model_name, a.source_model, a.n_epochs, a.seed, a.learning_rate,
                              backend=a.backend, push_to_hub=a.push_to_hub)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"final model: {final}")


if __name__ == "__main__":
    main()
