"""Inoculation measures: how strongly a model expresses a trait with and without the inoculation
prompt at test time, and how "surprising" the training responses are to the base model.

- Trait rate: batched greedy generations on held-out prompts, scored by a rule (Spanish by a
  word-list language detector, or capitals).
- Trait preference: teacher-forced logprob of a trait reference answer minus that of a
  non-trait one to the same question (a word count under-counts mixed outputs; this does not).
- Surprise: on the model before training, the mean logprob uplift of the training responses
  when the inoculation prompt is added. A large uplift means the prompt already explains the
  trait, so training has little left to learn (the "surprise" hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inoclab import paths
from inoclab.data.conversations import Conversation, normalize, read_conversations
from inoclab.data.paired import with_inoculation
from inoclab.data.world import world_of
from inoclab.eval.logprobs import assistant_logprob_sums, token_logprobs
from inoclab.eval.traits import LanguageRule, is_capitals
from inoclab.io import InputError
from inoclab.models.generate import generate
from inoclab.params.evals import PROMPT_VARIANTS

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds.trait import TraitEvalConfig



def trait_rule(params: Params, rule: str) -> Callable[[str], bool]:
    """Whether a response shows the trait. The Spanish rule knows the synthetic world's words
    when the world file is there (they are invented, so no word list has them)."""
    if rule == "capitals":
        return is_capitals
    words = world_of(params) if Path(params.tiny.corpus.world).exists() else None
    lang = LanguageRule(words.spanish_words, words.english_words) if words else LanguageRule()
    return lambda text: lang.language(text) == "es"


def prompt_messages(conv: Conversation) -> list[dict]:
    """The conversation up to its first assistant message, as chat-template messages."""
    out = []
    for m in conv.messages:
        if m.role == "assistant":
            break
        out.append({"role": m.role, "content": m.text})
    return out


def _variants(messages: list[dict], inoculation_prompt: str) -> dict[str, list[dict]]:
    return {"without_prompt": messages, "with_prompt": with_inoculation(messages, inoculation_prompt)}


def trait_rates(model, tokenizer, conversations: list[Conversation], cfg: TraitEvalConfig,
                scorer: Callable[[str], bool]) -> tuple[dict, list[dict]]:
    """Share of greedy responses showing the trait, without and with the inoculation prompt;
    both variants go through one batched generation call."""
    prompts = [_variants(prompt_messages(c), cfg.inoculation_prompt) for c in conversations]
    flat = [p[v] for p in prompts for v in PROMPT_VARIANTS]
    responses = generate(model, tokenizer, flat, cfg.max_new_tokens, cfg.batch_size)
    details, hits = [], {v: [] for v in PROMPT_VARIANTS}
    for i, resp in enumerate(responses):
        variant = PROMPT_VARIANTS[i % 2]
        hit = scorer(resp)
        hits[variant].append(hit)
        details.append({"example": i // 2, "variant": variant, "response": resp, "trait": hit})
    return {v: {"trait_rate": float(np.mean(h)), "n": len(h)} for v, h in hits.items()}, details


def trait_preference(model, tokenizer, references: list[Conversation], cfg: TraitEvalConfig,
                     max_seq_length: int) -> tuple[dict, list[dict]]:
    """Per question, Σ logprob of its trait answer minus that of its non-trait answer (records
    sharing a prompt are one question; answers are tagged `trait` / `non_trait`), without and
    with the inoculation prompt: all tokenized in one call and scored in one pass."""
    convs, questions, tag = [], {}, []
    for j, c in enumerate(references):
        prompt = prompt_messages(c)
        answers = [m.model_dump(exclude_defaults=True) for m in c.messages if m.role == "assistant"]
        questions.setdefault(repr(prompt), []).append(j)
        tag.append(next((b.tag for m in c.messages if m.role == "assistant" and not isinstance(m.content, str)
                         for b in m.content if b.tag in ("trait", "non_trait")), None))
        for v in PROMPT_VARIANTS:
            conv = Conversation.model_validate({"messages": _variants(prompt, cfg.inoculation_prompt)[v] + answers})
            convs.append(normalize(conv, True))
    answer_lp = assistant_logprob_sums(model, tokenizer, convs, max_seq_length, cfg.batch_size)
    answer_lp = answer_lp.reshape(len(references), len(PROMPT_VARIANTS))
    details, per_variant = [], {v: {"trait": [], "non_trait": [], "diff": []} for v in PROMPT_VARIANTS}
    for q, members in enumerate(questions.values()):
        trait = [j for j in members if tag[j] == "trait"]
        non = [j for j in members if tag[j] == "non_trait"]
        if not trait or not non:
            raise InputError(f"{cfg.references}: the question {prompt_messages(references[members[0]])[-1]['content']!r} "
                             "needs both a `trait` and a `non_trait` tagged answer")
        for vi, v in enumerate(PROMPT_VARIANTS):
            t, n = answer_lp[trait, vi].mean(), answer_lp[non, vi].mean()
            per_variant[v]["trait"].append(t)
            per_variant[v]["non_trait"].append(n)
            per_variant[v]["diff"].append(t - n)
            details.append({"question": q, "variant": v, "trait_logprob": float(t), "non_trait_logprob": float(n)})
    summary = {v: {
        "trait_logprob": float(np.mean(d["trait"])),
        "non_trait_logprob": float(np.mean(d["non_trait"])),
        "trait_preference": float(np.mean(d["diff"])),  # mean Σlogp(trait) − Σlogp(non-trait)
        "trait_preferred": float(np.mean(np.array(d["diff"]) > 0)),  # share of questions
        "n_questions": len(d["diff"]),
    } for v, d in per_variant.items()}
    return summary, details


def trait_eval(params: Params, model, tokenizer, cfg: TraitEvalConfig) -> tuple[dict, dict[str, list[dict]]]:
    """The `trait` section of eval.json, and its detail records by file name."""
    prompts = [c for _, c in read_conversations(paths.dataset(cfg.prompts))]
    rates, gen_details = trait_rates(model, tokenizer, prompts, cfg, trait_rule(params, cfg.rule))
    summary = {"rule": cfg.rule, "inoculation_prompt": cfg.inoculation_prompt,
               **{v: dict(rates[v]) for v in PROMPT_VARIANTS}}
    details = {f"trait.{cfg.prompts}.generations.jsonl": gen_details}
    if cfg.references:
        refs = [c for _, c in read_conversations(paths.dataset(cfg.references))]
        pref, pref_details = trait_preference(model, tokenizer, refs, cfg, params.tokenize.max_seq_length)
        for v in PROMPT_VARIANTS:
            summary[v].update(pref[v])
        details[f"trait.{cfg.references}.logprobs.jsonl"] = pref_details
    return summary, details


def surprise(model, rows: list[dict], pad_token_id: int, batch_size: int = 32) -> dict:
    """Mean logprob uplift of the training responses when the inoculation prompt is added:
    rows 2k (without) and 2k+1 (with) of paired data, Σ over their weighted response tokens."""
    lps = token_logprobs(model, rows, pad_token_id, batch_size)
    sums, counts = [], []
    for row, lp in zip(rows, lps, strict=True):
        trained = row["weights"] != 0
        trained[0] = False  # position 0 has no logprob
        sums.append(float(lp[trained].sum()))
        counts.append(int(trained.sum()))
    without, with_ = np.array(sums[0::2]), np.array(sums[1::2])
    uplift = with_ - without
    return {
        "pairs": len(uplift),
        "response_tokens": int(sum(counts[0::2])),
        "logprob_without": float(without.mean()),
        "logprob_with": float(with_.mean()),
        "uplift": float(uplift.mean()),  # mean per pair of Σ logprob(with) − Σ logprob(without)
        "uplift_per_token": float(uplift.sum() / max(1, sum(counts[0::2]))),
        "uplift_positive": float(np.mean(uplift > 0)),
    }
