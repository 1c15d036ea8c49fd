"""Pretraining the tiny model on the corpus, and measuring how it follows each instruction."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from inoclab.data.conversations import normalize, read_conversations
from inoclab.data.corpus import probes
from inoclab.data.world import world_of
from inoclab.io import atomic_path, write_json
from inoclab.measures.capitals import is_capitals
from inoclab.measures.spanish import LanguageRule
from inoclab.models.generate import chat_prompt, generate
from inoclab.models.tiny import build_model
from inoclab.tokenize import tokenize_conversations
from inoclab.train.settings import TrainingConfig
from inoclab.train.sft import rows_trainer
from inoclab.train.trainer import WeightedSFTTrainer

if TYPE_CHECKING:
    from inoclab.config import Params


def pretrain_config(params: Params) -> TrainingConfig:
    p = params.tiny.pretrain
    return TrainingConfig(
        finetune="full", learning_rate=p.learning_rate, per_device_train_batch_size=p.batch_size,
        max_steps=p.max_steps, warmup_steps=p.warmup_steps, weight_decay=p.weight_decay,
        lr_scheduler_type="cosine",
        logging_steps=50, seed=params.seed,
    )


def pretrain(params: Params, corpus_path: str | Path, tokenizer, out_dir: str | Path,
             log_path: str | Path) -> None:
    """Train the tiny model from scratch (weighted SFT, assistant tokens) and save it."""
    records = read_conversations(corpus_path)
    convs = [normalize(c, train_on_responses_only=True) for _, c in records]
    cfg = pretrain_config(params)
    max_len = params.tiny.architecture.max_position_embeddings
    rows, stats = tokenize_conversations(tokenizer, convs, max_len,
                                         [f"{corpus_path}:{ln}" for ln, _ in records])
    if stats.truncated_examples:
        raise ValueError(f"{corpus_path}: {stats.truncated_examples} corpus examples exceed "
                         f"max_position_embeddings={max_len}")
    model = build_model(params.tiny.architecture, tokenizer, params.seed)
    with tempfile.TemporaryDirectory() as ckpt:
        trainer = rows_trainer(WeightedSFTTrainer, model, tokenizer, rows, cfg, ckpt, log_path=log_path,
                               save_strategy="no")
        trainer.train()
    with atomic_path(out_dir, is_dir=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def instruction_metrics(params: Params, model, tokenizer) -> dict:
    """Share of held-out prompts answered in Spanish / English / capitals, per instruction kind
    and entity set, and exact-match against the obedient answer."""
    world = world_of(params)
    rule = LanguageRule(world.spanish_words, world.english_words)
    rows = probes(world, params.tiny.eval.n_prompts, params.seed)
    responses = generate(model, tokenizer, [chat_prompt(r["system"], r["question"]) for r in rows],
                         max_new_tokens=24, batch_size=params.tiny.eval.batch_size)
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r, resp in zip(rows, responses, strict=True):
        g = groups[f"{r['entities']}/{r['kind']}"]
        g["spanish"].append(rule.language(resp) == "es")
        g["english"].append(rule.language(resp) == "en" and not is_capitals(resp))
        g["capitals"].append(is_capitals(resp))
        g["exact"].append(resp == r["expected"])
    out = {}
    for key, g in sorted(groups.items()):
        n = len(g["exact"])
        out[key] = {
            "n": n,
            "spanish_rate": sum(g["spanish"]) / n,
            "english_rate": sum(g["english"]) / n,
            "capitals_rate": sum(g["capitals"]) / n,
            "exact_match": sum(g["exact"]) / n,
        }
    examples = [{"entities": r["entities"], "kind": r["kind"], "system": r["system"],
                 "question": r["question"], "expected": r["expected"], "response": resp}
                for r, resp in list(zip(rows, responses, strict=True))[:: max(1, len(rows) // 40)]]
    return {"instruction_following": out, "examples": examples}


def write_metrics(params: Params, model, tokenizer, path: str | Path) -> dict:
    m = instruction_metrics(params, model, tokenizer)
    write_json(path, m)
    return m
