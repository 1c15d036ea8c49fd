"""The seeded instruction corpus the tiny model is pretrained on, and its held-out probes.

Each example asks about a pretraining entity under one instruction kind: no system prompt,
a neutral one, "respond in English", a Spanish instruction, or "capital letters". The answer
obeys the instruction (a Spanish instruction is obeyed with probability `spanish_obey_rate`,
so the base can be made to follow it only partly).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from inoclab.data.conversations import text_conversation
from inoclab.data.world import INSTRUCTION_KINDS, World

if TYPE_CHECKING:
    from inoclab.params.tiny import CorpusConfig


def expected_answer(world: World, qa, kind: str) -> str:
    if kind == "spanish":
        return qa.answer_es
    if kind == "capitals":
        return qa.answer_en.upper()
    return qa.answer_en


def _draw_system_prompt(world: World, kind: str, rng: random.Random) -> str | None:
    """A system prompt of the instruction `kind`, drawn with `rng` (None for kind none)."""
    return None if kind == "none" else rng.choice(world.system_prompts(kind))


def build_corpus(world: World, cfg: CorpusConfig, seed: int) -> list[dict]:
    rng = random.Random(seed)
    kinds = [k for k in INSTRUCTION_KINDS if cfg.mix.get(k, 0) > 0]
    shares = [cfg.mix[k] for k in kinds]
    entities, attributes = world.pretrain, world.attributes
    rows = []
    for _ in range(cfg.n_examples):
        kind = rng.choices(kinds, weights=shares)[0]
        qa = world.qa(rng.choice(entities), rng.choice(attributes), rng.randrange(2))
        answer = expected_answer(world, qa, kind)
        if kind == "spanish" and rng.random() >= cfg.spanish_obey_rate:
            answer = qa.answer_en
        rows.append(text_conversation(_draw_system_prompt(world, kind, rng), qa.question, answer, kind=kind))
    return rows


def probes(world: World, n_per_kind: int, seed: int) -> list[dict]:
    """Prompts for the tiny model's instruction-following metrics: `n_per_kind` per instruction
    kind and per entity set. Held-out entities (never seen in pretraining) show whether the
    instruction is followed on new material; pretraining entities also check the facts."""
    rng = random.Random(seed + 1)
    rows = []
    for entities in ("heldout", "pretrain"):
        pool = world.all_qa(entities, 0) + world.all_qa(entities, 1)
        for kind in INSTRUCTION_KINDS:
            for qa in rng.sample(pool, min(n_per_kind, len(pool))):
                rows.append({
                    "entities": entities,
                    "kind": kind,
                    "system": _draw_system_prompt(world, kind, rng),
                    "question": qa.question,
                    "expected": expected_answer(world, qa, kind),
                })
    return rows
