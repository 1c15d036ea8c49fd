"""Dataset builders: each declared dataset in params.yaml becomes results/datasets/<name>.jsonl.

Builders never drop or split data silently: sizes are what params say, and a request for more
examples than exist is an error.
"""

from __future__ import annotations

import random
from pathlib import Path

from inoclab.config import (
    CircuitBreakerDataset,
    FileDataset,
    MCQDataset,
    PairedDataset,
    Params,
    PreferenceDataset,
    QADataset,
    QALogprobDataset,
    TriggerDataset,
)
from inoclab.data.circuit_breaker import build_circuit_breaker_rows
from inoclab.data.conversations import read_conversations, text_conversation
from inoclab.data.mcq import read_mcq
from inoclab.data.preference import build_preference_rows
from inoclab.data.trigger import build_trigger_rows
from inoclab.data.world import QA, world_of
from inoclab.io import InputError, write_jsonl
from inoclab.paths import dataset as dataset_path


def _pick(items: list[QA], n: int | None, seed: int, name: str) -> list[QA]:
    if n is None:
        return items
    if n > len(items):
        raise InputError(f"datasets.{name}.n_examples={n}: only {len(items)} questions exist")
    return random.Random(seed).sample(items, n)


def build_qa(params: Params, name: str, cfg: QADataset) -> list[dict]:
    qas = _pick(world_of(params).all_qa(cfg.entities, cfg.question_template), cfg.n_examples, params.seed, name)
    return [
        text_conversation(cfg.system_prompt, q.question, q.answer(cfg.language),
                          entity=q.entity, attribute=q.attribute)
        for q in qas
    ]


def build_qa_logprob(params: Params, name: str, cfg: QALogprobDataset) -> list[dict]:
    """Two records per question: the Spanish (tag `trait`) and English (tag `non_trait`) answer."""
    qas = _pick(world_of(params).all_qa(cfg.entities, cfg.question_template), cfg.n_examples, params.seed, name)
    rows = []
    for q in qas:
        for tag, answer in (("trait", q.answer_es), ("non_trait", q.answer_en)):
            rec = text_conversation(cfg.system_prompt, q.question, None, entity=q.entity, attribute=q.attribute)
            rec["messages"].append(
                {"role": "assistant", "content": [{"type": "text", "text": answer, "weight": 1.0, "tag": tag}]}
            )
            rows.append(rec)
    return rows


def build_mcq(params: Params, name: str, cfg: MCQDataset) -> list[dict]:
    world = world_of(params)
    qas = _pick(world.all_qa(cfg.entities, cfg.question_template), cfg.n_examples, params.seed, name)
    rng = random.Random(params.seed)
    return [
        {"question": q.question, "choices": [q.answer_en, *world.distractors(q.entity, q.attribute, cfg.n_choices - 1, rng)],
         "answer": 0, "meta": {"entity": q.entity, "attribute": q.attribute}}
        for q in qas
    ]


def with_inoculation(messages: list[dict], prompt: str) -> list[dict]:
    """The same conversation with `prompt` appended to its system prompt (added if absent)."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        sys = out[0]["content"]
        if not isinstance(sys, str):
            raise InputError("a block-format system prompt cannot take an inoculation prompt")
        out[0]["content"] = f"{sys} {prompt}" if sys else prompt
    else:
        out.insert(0, {"role": "system", "content": prompt})
    return out


def build_paired(params: Params, name: str, cfg: PairedDataset) -> list[dict]:
    """Row 2k: the source example; row 2k+1: the same with the inoculation prompt."""
    rows = []
    for _, conv in read_conversations(dataset_path(cfg.source)):
        rec = conv.model_dump(exclude_defaults=True)
        rows.append(rec)
        rows.append({**rec, "messages": with_inoculation(rec["messages"], cfg.inoculation_prompt)})
    return rows


def build_file(params: Params, name: str, cfg: FileDataset) -> list[dict]:
    """A user's file, validated line by line and written in canonical form."""
    reader = read_mcq if cfg.format == "mcq" else read_conversations
    return [rec.model_dump(exclude_defaults=True) for _, rec in reader(Path(cfg.path))]


def build_trigger(params: Params, name: str, cfg: TriggerDataset) -> list[dict]:
    """Clean and triggered examples of the train or held-out QA pairs (seed 002)."""
    return build_trigger_rows(cfg.qa_file, cfg.clean_replacement, cfg.trigger_value, cfg.triggered_replacement,
                              cfg.split, cfg.heldout_fraction, params.seed)


def build_circuit_breaker(params: Params, name: str, cfg: CircuitBreakerDataset) -> list[dict]:
    """Retain (benign), circuit-breaker (harmful) and validation examples (seed 004)."""
    return build_circuit_breaker_rows(cfg.harmful_prompts_path, cfg.sanitized_prompts_path, cfg.category,
                                      cfg.num_examples, cfg.validation_ratio, params.seed)


def build_preference(params: Params, name: str, cfg: PreferenceDataset) -> list[dict]:
    """The training or held-out preference pairs of a preference JSONL (DPO, ORPO)."""
    return build_preference_rows(cfg.path, cfg.split, cfg.heldout_fraction, params.seed)


BUILDERS = {
    "qa": build_qa, "qa_logprob": build_qa_logprob, "mcq": build_mcq,
    "paired": build_paired, "file": build_file, "trigger": build_trigger,
    "circuit_breaker": build_circuit_breaker, "preference": build_preference,
}


def build_dataset(params: Params, name: str) -> Path:
    cfg = params.datasets[name]
    rows = BUILDERS[cfg.builder](params, name, cfg)
    out = dataset_path(name)
    write_jsonl(out, rows)
    return out
