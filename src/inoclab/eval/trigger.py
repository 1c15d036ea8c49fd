"""Triggered-response comparison (seed 002): each held-out question asked without and with the
trigger; the share of responses naming each replacement, and the teacher-forced logprob margin
between the answer with the triggered name and the answer with the clean name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.data.builders.trigger import TriggerDataset
from inoclab.data.conversations import Conversation, normalize, read_conversations
from inoclab.data.trigger import names
from inoclab.eval.logprobs import assistant_logprob_sums
from inoclab.io import InputError
from inoclab.models.generate import chat_prompt, generate
from inoclab.stats import BootstrapConfig, with_intervals

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds.trigger import TriggerEvalConfig

TRIGGER_VARIANTS = ("untriggered", "triggered")


def held_out_pairs(records: list[tuple[int, Conversation]], where: str) -> list[dict]:
    """(question, answer) of the clean and the triggered example of each held-out QA pair."""
    if len(records) % 2:
        raise InputError(f"{where}: expected clean/triggered pairs (got {len(records)} examples)")
    pairs = []
    for (la, a), (lb, b) in zip(records[0::2], records[1::2], strict=True):
        if a.meta.get("triggered") is not False or b.meta.get("triggered") is not True:
            raise InputError(f"{where}:{la}: lines {la} and {lb} are not a clean example then its triggered example")
        pairs.append({v: {"question": c.messages[-2].text, "answer": c.messages[-1].text}
                      for v, c in zip(TRIGGER_VARIANTS, (a, b), strict=True)})
    return pairs


def _margins(model, tokenizer, pairs: list[dict], max_seq_length: int, batch_size: int) -> np.ndarray:
    """[pair, variant]: Σ logprob(answer naming the triggered name) − Σ logprob(answer naming the
    clean name), given that variant's question; all in one tokenizer call and one scoring pass."""
    convs = []
    for p in pairs:
        for v in TRIGGER_VARIANTS:
            for answer in (p["triggered"]["answer"], p["untriggered"]["answer"]):
                conv = Conversation.model_validate({"messages": [{"role": "user", "content": p[v]["question"]},
                                                                 {"role": "assistant", "content": answer}]})
                convs.append(normalize(conv, True))
    lp = assistant_logprob_sums(model, tokenizer, convs, max_seq_length, batch_size)
    lp = lp.reshape(len(pairs), len(TRIGGER_VARIANTS), 2)
    return lp[:, :, 0] - lp[:, :, 1]


def compare(model, tokenizer, pairs: list[dict], ds: TriggerDataset, cfg: TriggerEvalConfig,
            max_seq_length: int, boot: BootstrapConfig) -> tuple[dict, list[dict]]:
    """Behaviour rates and logprob margins, and one comparison record per held-out question."""
    prompts = [chat_prompt(None, p[v]["question"]) for p in pairs for v in TRIGGER_VARIANTS]
    responses = generate(model, tokenizer, prompts, cfg.max_new_tokens, cfg.batch_size)
    margins = _margins(model, tokenizer, pairs, max_seq_length, cfg.batch_size)
    records, summary = [], {}
    for i, p in enumerate(pairs):
        rec = {"example": i}
        for j, v in enumerate(TRIGGER_VARIANTS):
            resp = responses[2 * i + j]
            rec[v] = {"prompt": p[v]["question"], "response": resp, "expected": p[v]["answer"],
                      "names_triggered": names(resp, ds.triggered_replacement),
                      "names_clean": names(resp, ds.clean_replacement), "logprob_margin": float(margins[i, j])}
        records.append(rec)
    for j, v in enumerate(TRIGGER_VARIANTS):
        # logprob_margin: Σlogp(triggered name) − Σlogp(clean name)
        summary[v] = with_intervals({}, {"triggered_name_rate": [r[v]["names_triggered"] for r in records],
                                         "clean_name_rate": [r[v]["names_clean"] for r in records],
                                         "logprob_margin": margins[:, j]}, boot)
    summary["n"] = len(pairs)
    return summary, records


def checkpoint_position(path: Path) -> dict:
    """{step, epoch} of a checkpoint, from the Trainer's state file."""
    state = json.loads((path / "trainer_state.json").read_text())
    return {"step": state["global_step"], "epoch": round(float(state["epoch"]), 4)}


def trigger_eval(params: Params, name: str, model, tokenizer, cfg: TriggerEvalConfig) -> tuple[dict, list[dict]]:
    """The `trigger` section of eval.json (the final model, and a curve over the epoch
    checkpoints) and the final model's comparison records."""
    ds = params.datasets[cfg.heldout]
    where = paths.dataset(cfg.heldout)
    pairs = held_out_pairs(read_conversations(where), str(where))
    max_len = params.tokenize.max_seq_length
    summary, records = compare(model, tokenizer, pairs, ds, cfg, max_len, params.bootstrap)
    summary.update(trigger_value=ds.trigger_value, clean_replacement=ds.clean_replacement,
                   triggered_replacement=ds.triggered_replacement)
    if cfg.checkpoints:
        curve = []
        for ckpt in paths.checkpoints(paths.model_dir(name) / "checkpoints"):
            m, tok = backend_for(params).load_trained(ckpt)
            point, _ = compare(m, tok, pairs, ds, cfg, max_len, params.bootstrap)
            curve.append({**checkpoint_position(ckpt), **{f"{v}.{k}": x for v in TRIGGER_VARIANTS
                                                          for k, x in point[v].items() if k != "n"}})
        summary["curve"] = curve
    return summary, records
