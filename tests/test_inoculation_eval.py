"""Trait measures and the surprise measure on the real tiny model, which was pretrained to
answer in Spanish when told "Always respond in Spanish." and in English otherwise."""

import pytest
from helpers import tokenize_records

from inoclab.data.conversations import Conversation
from inoclab.data.paired import with_inoculation
from inoclab.data.world import world_of
from inoclab.eval.inoculation import surprise, trait_preference, trait_rates, trait_rule
from inoclab.eval.kinds import TraitEvalConfig
from inoclab.io import InputError

INOC = "Always respond in Spanish."
CFG = TraitEvalConfig(prompts="unused", references="unused", inoculation_prompt=INOC, max_new_tokens=24)


@pytest.fixture
def questions(small_params):
    return world_of(small_params).all_qa("pretrain", 1)[:24]


def conversation(system, question, *answers):
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    msgs += [{"role": "assistant", "content": [{"type": "text", "text": a, "weight": 1.0, "tag": t}]} for a, t in answers]
    return Conversation.model_validate({"messages": msgs})


def test_trait_rate_follows_the_inoculation_prompt(tiny_model, tokenizer, small_params, questions):
    convs = [conversation(None, q.question) for q in questions]
    rates, details = trait_rates(tiny_model, tokenizer, convs, CFG, trait_rule(small_params, "spanish"))
    assert rates["with_prompt"]["n"] == rates["without_prompt"]["n"] == len(questions)
    assert rates["without_prompt"]["trait_rate"] <= 0.2
    assert rates["with_prompt"]["trait_rate"] >= 0.8
    assert {d["variant"] for d in details} == {"without_prompt", "with_prompt"}


def test_trait_preference_compares_trait_and_non_trait_answers(tiny_model, tokenizer, questions):
    refs = []
    for q in questions:
        refs += [conversation(None, q.question, (q.answer_es, "trait")),
                 conversation(None, q.question, (q.answer_en, "non_trait"))]
    summary, details = trait_preference(tiny_model, tokenizer, refs, CFG, 256)
    without, with_ = summary["without_prompt"], summary["with_prompt"]
    assert without["n_questions"] == with_["n_questions"] == len(questions)
    # uninstructed, the English answer is the likelier one; the prompt shifts the odds far to Spanish
    assert without["trait_preference"] < 0 and without["trait_preferred"] <= 0.1
    assert with_["trait_preference"] - without["trait_preference"] > 5
    assert with_["trait_logprob"] > without["trait_logprob"] and with_["non_trait_logprob"] < without["non_trait_logprob"]
    with pytest.raises(InputError, match="needs both a `trait` and a `non_trait` tagged answer"):
        trait_preference(tiny_model, tokenizer, refs[::2], CFG, 256)


def test_surprise_is_the_logprob_uplift_of_spanish_responses(tiny_model, tokenizer, questions):
    records = []
    for q in questions:
        msgs = [{"role": "user", "content": q.question},
                {"role": "assistant", "content": q.answer_es}]
        records += [{"messages": msgs}, {"messages": with_inoculation(msgs, INOC)}]
    rows = tokenize_records(tokenizer, records)
    s = surprise(tiny_model, rows, tokenizer.pad_token_id)
    assert s["pairs"] == len(questions)
    assert s["uplift"] == pytest.approx(s["logprob_with"] - s["logprob_without"])
    assert s["uplift"] > 5 and s["uplift_positive"] >= 0.9  # the prompt explains the Spanish
    # English responses are made less likely by the same prompt
    records_en = [{"messages": [*r["messages"][:-1], {"role": "assistant", "content": q.answer_en}]}
                  for r, q in zip(records, [q for q in questions for _ in (0, 1)], strict=True)]
    assert surprise(tiny_model, tokenize_records(tokenizer, records_en), tokenizer.pad_token_id)["uplift"] < 0
