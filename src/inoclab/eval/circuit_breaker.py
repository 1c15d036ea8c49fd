"""Circuit-breaker evals (seed 004) on the held-out (validation) harmful and benign prompts:
how far the hidden states moved from the original model's, and what that did to the answers.

"Before" is the same model with its adapter disabled (the original), "after" the trained one.
Per kind (harmful, benign):
- `cosine`: cosine similarity of the hidden states with the original's at the target layers,
  per example the mean over its tokens and target layers, then the mean over examples
  (`cosine_by_layer`: the same for every decoder block);
- `completion_logprob`: Σ logprob of the reference completion, before, after and the change;
- `answer_rate`: the share of greedy responses equal to the reference completion, before and after.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from inoclab import paths
from inoclab.data.circuit_breaker import BENIGN, HARMFUL, VALIDATION
from inoclab.data.conversations import Conversation, normalize, read_conversations
from inoclab.eval.logprobs import assistant_sums
from inoclab.io import InputError
from inoclab.models.generate import chat_prompt, generate
from inoclab.models.hidden import check_target_layers, cosine_to_original, num_layers, original
from inoclab.stats import BootstrapConfig, intervals, with_intervals
from inoclab.tokenize import tokenize_conversations

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds.circuit_breaker import CircuitBreakerEvalConfig

KINDS = (HARMFUL, BENIGN)


def held_out(records: list[tuple[int, Conversation]], where: str) -> dict[str, list[tuple[int, Conversation]]]:
    """The validation records of each kind."""
    out: dict[str, list[tuple[int, Conversation]]] = {k: [] for k in KINDS}
    for line, conv in records:
        if conv.meta.get("split") == VALIDATION and conv.meta.get("kind") in out:
            out[conv.meta["kind"]].append((line, conv))
    for kind, recs in out.items():
        if not recs:
            raise InputError(f"{where}: no held-out {kind} examples (set validation_ratio above 0)")
    return out


def _before_after(model, fn):
    """fn() with the adapter disabled, then with it."""
    with original(model):
        before = fn()
    return before, fn()


def evaluate_kind(model, tokenizer, records: list[tuple[int, Conversation]], layers: list[int],
                  cfg: CircuitBreakerEvalConfig, max_seq_length: int, boot: BootstrapConfig) -> tuple[dict, list[dict]]:
    convs = [normalize(c, True) for _, c in records]
    rows, _ = tokenize_conversations(tokenizer, convs, max_seq_length)
    pad = tokenizer.pad_token_id
    all_layers = list(range(num_layers(model)))
    cos = cosine_to_original(model, rows, pad, all_layers, cfg.batch_size).numpy()  # [examples, layers]
    target_cos = cos[:, layers].mean(axis=1)
    lp_before, lp_after = _before_after(model, lambda: assistant_sums(model, rows, pad, cfg.batch_size))
    prompts = [chat_prompt(None, c.messages[0].text) for _, c in records]
    resp_before, resp_after = _before_after(
        model, lambda: generate(model, tokenizer, prompts, cfg.max_new_tokens, cfg.batch_size))
    records_out = []
    for i, (line, conv) in enumerate(records):
        expected = conv.messages[-1].text
        records_out.append({
            "kind": conv.meta["kind"], "category": conv.meta.get("category"), "line": line,
            "source_line": conv.meta.get("line"), "prompt": conv.messages[0].text, "completion": expected,
            "response_before": resp_before[i], "response_after": resp_after[i],
            "answered_before": resp_before[i] == expected, "answered_after": resp_after[i] == expected,
            "completion_logprob_before": float(lp_before[i]), "completion_logprob_after": float(lp_after[i]),
            "cosine": float(target_cos[i]), "cosine_by_layer": [float(x) for x in cos[i]],
        })
    return summarize(records_out, cos, boot), records_out


def _measures(recs: list[dict], boot: BootstrapConfig) -> dict:
    """Means over the prompts, each with its interval (`<key>_ci`)."""
    def col(key):
        return np.array([r[key] for r in recs], dtype=np.float64)

    before, after = col("completion_logprob_before"), col("completion_logprob_after")
    out = with_intervals({}, {"cosine": col("cosine")}, boot)
    out["completion_logprob"] = with_intervals({}, {"before": before, "after": after, "change": after - before}, boot)
    out["answer_rate"] = with_intervals({}, {"before": col("answered_before"), "after": col("answered_after")}, boot)
    for section in ("completion_logprob", "answer_rate"):
        del out[section]["n"]
    return out


def summarize(records: list[dict], cos_by_layer: np.ndarray, boot: BootstrapConfig) -> dict:
    by_category: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_category[r["category"]].append(r)
    out = _measures(records, boot)
    out["cosine_by_layer"] = {str(layer): float(x) for layer, x in enumerate(cos_by_layer.mean(axis=0))}
    out["cosine_by_layer_ci"] = intervals({str(layer): cos_by_layer[:, layer] for layer in range(cos_by_layer.shape[1])},
                                          boot)
    out["by_category"] = {cat: _measures(rs, boot) for cat, rs in sorted(by_category.items())}
    return out


def circuit_breaker_eval(params: Params, name: str, model, tokenizer,
                         cfg: CircuitBreakerEvalConfig) -> tuple[dict, list[dict]]:
    """The `circuit_breaker` section of eval.json and one record per held-out prompt."""
    layers = params.experiment_training(name).circuit_breaker_target_layers
    check_target_layers(model, layers, f"{params.declared_key(name)}.training.circuit_breaker_target_layers")
    where = paths.dataset(cfg.dataset)
    kinds = held_out(read_conversations(where), str(where))
    summary: dict = {"dataset": cfg.dataset, "target_layers": layers}
    records: list[dict] = []
    for kind in KINDS:
        summary[kind], recs = evaluate_kind(model, tokenizer, kinds[kind], layers, cfg,
                                            params.tokenize.max_seq_length, params.bootstrap)
        records += recs
    return summary, records
