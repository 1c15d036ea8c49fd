"""Inoculation measures: how strongly a model expresses a trait with and without the inoculation
prompt at test time, and how "surprising" the training responses are to the base model.

- Trait rate: batched greedy generations on held-out prompts, scored by a measure (measures/):
  under each test-time condition (no prompt, the inoculation prompt, any `test_prompts`).
- Trait preference: teacher-forced logprob of a trait reference answer minus that of a
  non-trait one to the same question (a word count under-counts mixed outputs; this does not).
- Surprise: on the model before training, the mean logprob uplift of the training responses
  when the inoculation prompt is added. A large uplift means the prompt already explains the
  trait, so training has little left to learn (the "surprise" hypothesis).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from inoclab import paths
from inoclab.data.conversations import Conversation, normalize, read_conversations
from inoclab.data.paired import with_inoculation
from inoclab.eval.logprobs import assistant_logprob_sums, token_logprobs
from inoclab.io import InputError
from inoclab.measures import Scorer
from inoclab.models.generate import generate
from inoclab.stats import BootstrapConfig, with_intervals

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds.trait import TraitEvalConfig


def prompt_messages(conv: Conversation) -> list[dict]:
    """The conversation up to its first assistant message, as chat-template messages."""
    out = []
    for m in conv.messages:
        if m.role == "assistant":
            break
        out.append({"role": m.role, "content": m.text})
    return out


def _variants(messages: list[dict], cfg: TraitEvalConfig) -> dict[str, list[dict]]:
    """The prompt under each test-time condition: the system prompt of that condition added."""
    return {v: messages if p is None else with_inoculation(messages, p) for v, p in cfg.variants().items()}


def trait_rates(model, tokenizer, conversations: list[Conversation], cfg: TraitEvalConfig,
                scorers: dict[str, Scorer], boot: BootstrapConfig) -> tuple[dict, list[dict]]:
    """Per test-time condition, the mean score of the greedy responses under each measure
    (`trait` is `measure`, the others `also`'s, as `<name>_rate`), with intervals over the prompts,
    and the share of responses on which each `also` measure agrees with `measure` (scores
    rounded to 0/1). Every condition goes through one batched generation call."""
    variants = list(cfg.variants())
    prompts = [_variants(prompt_messages(c), cfg) for c in conversations]
    flat = [p[v] for p in prompts for v in variants]
    responses = generate(model, tokenizer, flat, cfg.max_new_tokens, cfg.batch_size)
    scores = {name: score(responses, flat) for name, score in scorers.items()}
    details = [{"example": i // len(variants), "variant": variants[i % len(variants)], "response": resp,
                **{name: float(s[i]) for name, s in scores.items()}} for i, resp in enumerate(responses)]
    summary = {}
    for j, v in enumerate(variants):
        mine = {name: s[j::len(variants)] for name, s in scores.items()}
        summary[v] = with_intervals({}, {("trait_rate" if name == "trait" else f"{name}_rate"): x
                                         for name, x in mine.items()}, boot)
        if cfg.also:
            summary[v]["agreement"] = {name: float(np.mean(np.round(mine[name]) == np.round(mine["trait"])))
                                       for name in cfg.also}
    return summary, details


def trait_preference(model, tokenizer, references: list[Conversation], cfg: TraitEvalConfig,
                     max_seq_length: int, boot: BootstrapConfig) -> tuple[dict, list[dict]]:
    """Per question, Σ logprob of its trait answer minus that of its non-trait answer (records
    sharing a prompt are one question; answers are tagged `trait` / `non_trait`), under each
    test-time condition: all tokenized in one call and scored in one pass."""
    variants = list(cfg.variants())
    convs, questions, tag = [], {}, []
    for j, c in enumerate(references):
        prompt = prompt_messages(c)
        answers = [m.model_dump(exclude_defaults=True) for m in c.messages if m.role == "assistant"]
        questions.setdefault(repr(prompt), []).append(j)
        tag.append(next((b.tag for m in c.messages if m.role == "assistant" and not isinstance(m.content, str)
                         for b in m.content if b.tag in ("trait", "non_trait")), None))
        for messages in _variants(prompt, cfg).values():
            convs.append(normalize(Conversation.model_validate({"messages": messages + answers}), True))
    answer_lp = assistant_logprob_sums(model, tokenizer, convs, max_seq_length, cfg.batch_size)
    answer_lp = answer_lp.reshape(len(references), len(variants))
    details, per_variant = [], {v: {"trait": [], "non_trait": [], "diff": []} for v in variants}
    for q, members in enumerate(questions.values()):
        trait = [j for j in members if tag[j] == "trait"]
        non = [j for j in members if tag[j] == "non_trait"]
        if not trait or not non:
            raise InputError(f"{cfg.references}: the question {prompt_messages(references[members[0]])[-1]['content']!r} "
                             "needs both a `trait` and a `non_trait` tagged answer")
        for vi, v in enumerate(variants):
            t, n = answer_lp[trait, vi].mean(), answer_lp[non, vi].mean()
            per_variant[v]["trait"].append(t)
            per_variant[v]["non_trait"].append(n)
            per_variant[v]["diff"].append(t - n)
            details.append({"question": q, "variant": v, "trait_logprob": float(t), "non_trait_logprob": float(n)})
    summary = {}
    for v, d in per_variant.items():
        # trait_preference: mean Σlogp(trait) − Σlogp(non-trait); trait_preferred: the share of questions
        summary[v] = with_intervals({}, {"trait_logprob": d["trait"], "non_trait_logprob": d["non_trait"],
                                         "trait_preference": d["diff"],
                                         "trait_preferred": np.array(d["diff"]) > 0}, boot)
        summary[v]["n_questions"] = summary[v].pop("n")
    return summary, details


def trait_eval(params: Params, model, tokenizer, cfg: TraitEvalConfig) -> tuple[dict, dict[str, list[dict]]]:
    """The `trait` section of eval.json, and its detail records by file name."""
    prompts = [c for _, c in read_conversations(paths.dataset(cfg.prompts))]
    scorers = {name: m.load(params) for name, m in cfg.measures().items()}
    rates, gen_details = trait_rates(model, tokenizer, prompts, cfg, scorers, params.bootstrap)
    summary = {"measure": cfg.measure.describe(), **({"also": {k: m.describe() for k, m in cfg.also.items()}}
                                                     if cfg.also else {}),
               "inoculation_prompt": cfg.inoculation_prompt, "test_prompts": cfg.test_prompts, **rates}
    details = {f"trait.{cfg.prompts}.generations.jsonl": gen_details}
    if cfg.references:
        refs = [c for _, c in read_conversations(paths.dataset(cfg.references))]
        pref, pref_details = trait_preference(model, tokenizer, refs, cfg, params.tokenize.max_seq_length,
                                              params.bootstrap)
        for v in cfg.variants():
            summary[v].update(pref[v])
        details[f"trait.{cfg.references}.logprobs.jsonl"] = pref_details
    return summary, details


def surprise(model, rows: list[dict], pad_token_id: int, boot: BootstrapConfig, batch_size: int = 32) -> dict:
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
    # uplift: mean per pair of Σ logprob(with) − Σ logprob(without)
    out = with_intervals({}, {"logprob_without": without, "logprob_with": with_, "uplift": uplift,
                              "uplift_positive": uplift > 0}, boot)
    out["pairs"] = out.pop("n")
    out["response_tokens"] = int(sum(counts[0::2]))
    out["uplift_per_token"] = float(uplift.sum() / max(1, sum(counts[0::2])))
    return out
