"""Logprob and MCQ evals on the real tiny model."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from helpers import qa_record, tokenize_records

from inoclab.data.mcq import MCQ
from inoclab.eval.logprobs import block_logprobs, summarize_blocks, token_logprobs
from inoclab.eval.mcq import evaluate_mcq, shuffled
from inoclab.stats import BootstrapConfig


def test_block_logprobs_match_a_plain_forward_pass(tiny_model, tokenizer):
    records = [qa_record("What colour is the bisut?", ("The bisut", 1.0, "a"), (" is red.", 1.0, "b")),
               qa_record("Where does the denos live?", ("The denos lives in the lake.", 1.0, "a"), system="Hi.")]
    rows = tokenize_records(tokenizer, records)
    blocks = block_logprobs(rows, token_logprobs(tiny_model, rows, tokenizer.pad_token_id, batch_size=2))
    # independent check: one row at a time, log_softmax, sum over the block's tokens
    row = rows[0]
    ids = torch.tensor(row["input_ids"])[None]
    with torch.no_grad():
        lp = F.log_softmax(tiny_model(ids).logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0].numpy()
    for b in (b for b in blocks if b["example"] == 0 and b["tag"]):
        positions = np.nonzero(row["block_index"] == b["block"])[0]
        expected = lp[positions - 1].sum()
        assert math.isclose(b["logprob_sum"], expected, rel_tol=1e-4)
        assert b["n_tokens"] == len(positions)
    summary = summarize_blocks(blocks)
    assert set(summary) == {"a", "b"} and summary["a"]["n_blocks"] == 2
    with_ci = summarize_blocks(blocks, BootstrapConfig())["a"]
    lo, hi = with_ci["logprob_sum_ci"]
    assert with_ci["logprob_sum"] == summary["a"]["logprob_sum"] and lo <= with_ci["logprob_sum"] <= hi


def test_mcq_shuffle_is_seeded():
    q = MCQ(question="?", choices=list("abcdef"), answer=2)
    assert shuffled(q, 1, 0) == shuffled(q, 1, 0)
    orders = {tuple(shuffled(q, s, 0)[0]) for s in range(10)}
    assert len(orders) > 1
    for s in range(10):
        choices, correct = shuffled(q, s, 3)
        assert choices[correct] == "c"


def test_mcq_scores_known_facts(tiny_model, tokenizer, small_params):
    """On facts of the pretraining corpus the model beats chance; metrics are consistent."""
    from inoclab.data.builders.mcq import MCQDataset

    rows = MCQDataset(builder="mcq", entities="pretrain", n_examples=32).build(small_params, "m")
    questions = [MCQ.model_validate(r) for r in rows]
    summary, detail = evaluate_mcq(tiny_model, tokenizer, questions, seed=0)
    assert summary["n"] == 32 and 0 < summary["p_any_choice"] <= 1 + 1e-6
    assert summary["accuracy"] > 0.25  # 4 choices
    for d in detail:
        probs = np.exp(d["logprobs"])
        assert math.isclose(d["p_correct"], probs[d["correct"]] / probs.sum(), rel_tol=1e-6)
    lettered, _ = evaluate_mcq(tiny_model, tokenizer, questions, seed=0, fmt="lettered")
    assert lettered["format"] == "lettered" and lettered["n"] == 32


def test_batched_generation_equals_one_prompt_at_a_time(tiny_model, tokenizer):
    """Left padding in batches must not change greedy answers (prompts of different lengths)."""
    from inoclab.models.generate import chat_prompt, generate

    prompts = [chat_prompt(None, "What colour is the bisut?"),
               chat_prompt("Always respond in Spanish.", "Where does the denos live?"),
               chat_prompt("You are a friendly assistant who knows about animals.", "How big is the bisut?")]
    batched = generate(tiny_model, tokenizer, prompts, max_new_tokens=12, batch_size=3)
    single = [generate(tiny_model, tokenizer, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
    assert batched == single
    assert tokenizer.padding_side == "right"  # restored for training
