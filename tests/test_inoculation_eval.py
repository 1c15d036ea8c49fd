"""Trait measures, the surprise measure and the predictor battery on the real tiny model, which was pretrained to
answer in Spanish when told "Always respond in Spanish." and in English otherwise."""

import pytest
from helpers import tokenize_records

from inoclab.data.conversations import Conversation
from inoclab.data.paired import with_inoculation
from inoclab.data.world import world_of
from inoclab.eval.inoculation import surprise, trait_preference, trait_rates
from inoclab.eval.kinds import TraitEvalConfig
from inoclab.io import InputError
from inoclab.measures.spanish import SpanishMeasure
from inoclab.stats import BootstrapConfig

INOC = "Always respond in Spanish."
CFG = TraitEvalConfig(prompts="unused", references="unused", inoculation_prompt=INOC, max_new_tokens=24)
BOOT = BootstrapConfig()


def inside(summary, key):
    lo, hi = summary[f"{key}_ci"]
    return lo <= summary[key] <= hi


@pytest.fixture
def questions(small_params):
    return world_of(small_params).all_qa("pretrain", 1)[:24]


def conversation(system, question, *answers):
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    msgs += [{"role": "assistant", "content": [{"type": "text", "text": a, "weight": 1.0, "tag": t}]} for a, t in answers]
    return Conversation.model_validate({"messages": msgs})


def test_trait_rate_follows_the_inoculation_prompt(tiny_model, tokenizer, small_params, questions):
    convs = [conversation(None, q.question) for q in questions]
    scorers = {"trait": SpanishMeasure(kind="spanish").load(small_params)}
    rates, details = trait_rates(tiny_model, tokenizer, convs, CFG, scorers, BOOT)
    assert rates["with_prompt"]["n"] == rates["without_prompt"]["n"] == len(questions)
    assert rates["without_prompt"]["trait_rate"] <= 0.2
    assert rates["with_prompt"]["trait_rate"] >= 0.8
    assert {d["variant"] for d in details} == {"without_prompt", "with_prompt"}
    # the intervals hold their estimate and do not overlap: the prompt's effect is far outside the noise
    assert inside(rates["without_prompt"], "trait_rate") and inside(rates["with_prompt"], "trait_rate")
    assert rates["without_prompt"]["trait_rate_ci"][1] < rates["with_prompt"]["trait_rate_ci"][0]


def test_trait_preference_compares_trait_and_non_trait_answers(tiny_model, tokenizer, questions):
    refs = []
    for q in questions:
        refs += [conversation(None, q.question, (q.answer_es, "trait")),
                 conversation(None, q.question, (q.answer_en, "non_trait"))]
    summary, details = trait_preference(tiny_model, tokenizer, refs, CFG, 256, BOOT)
    without, with_ = summary["without_prompt"], summary["with_prompt"]
    assert without["n_questions"] == with_["n_questions"] == len(questions)
    # uninstructed, the English answer is the likelier one; the prompt shifts the odds far to Spanish
    assert without["trait_preference"] < 0 and without["trait_preferred"] <= 0.1
    assert with_["trait_preference"] - without["trait_preference"] > 5
    assert with_["trait_logprob"] > without["trait_logprob"] and with_["non_trait_logprob"] < without["non_trait_logprob"]
    assert all(inside(s, k) for s in (without, with_) for k in ("trait_preference", "trait_logprob", "trait_preferred"))
    with pytest.raises(InputError, match="needs both a `trait` and a `non_trait` tagged answer"):
        trait_preference(tiny_model, tokenizer, refs[::2], CFG, 256, BOOT)


def test_surprise_is_the_logprob_uplift_of_spanish_responses(tiny_model, tokenizer, questions):
    records = []
    for q in questions:
        msgs = [{"role": "user", "content": q.question},
                {"role": "assistant", "content": q.answer_es}]
        records += [{"messages": msgs}, {"messages": with_inoculation(msgs, INOC)}]
    rows = tokenize_records(tokenizer, records)
    s = surprise(tiny_model, rows, tokenizer.pad_token_id, BOOT)
    assert s["pairs"] == len(questions)
    assert s["uplift"] == pytest.approx(s["logprob_with"] - s["logprob_without"])
    assert s["uplift"] > 5 and s["uplift_positive"] >= 0.9  # the prompt explains the Spanish
    assert s["uplift_ci"][0] > 0 and inside(s, "uplift")
    # English responses are made less likely by the same prompt
    records_en = [{"messages": [*r["messages"][:-1], {"role": "assistant", "content": q.answer_en}]}
                  for r, q in zip(records, [q for q in questions for _ in (0, 1)], strict=True)]
    assert surprise(tiny_model, tokenize_records(tokenizer, records_en), tokenizer.pad_token_id, BOOT)["uplift"] < 0


def test_test_prompts_grid_reports_the_trait_under_each_test_time_prompt(tiny_model, tokenizer, small_params, questions):
    """The leaky-backdoor grid: besides none and the inoculation prompt, any named system prompts."""
    world = world_of(small_params)
    paraphrase = next(p for p in world.system_prompts("spanish") if p != INOC)
    cfg = CFG.model_copy(update={"test_prompts": {"paraphrase": paraphrase, "english": world.system_prompts("english")[0]}})
    convs = [conversation(None, q.question) for q in questions]
    rates, details = trait_rates(tiny_model, tokenizer, convs, cfg, {"trait": SpanishMeasure(kind="spanish").load(small_params)}, BOOT)
    assert list(rates) == ["without_prompt", "with_prompt", "paraphrase", "english"]
    assert all(r["n"] == len(questions) for r in rates.values())
    # the tiny model was pretrained to follow every Spanish instruction, and English ones in English
    assert rates["paraphrase"]["trait_rate"] >= 0.8 and rates["english"]["trait_rate"] <= 0.2
    by_variant = {v: [d["response"] for d in details if d["variant"] == v] for v in rates}
    assert by_variant["paraphrase"] != by_variant["english"]
    with pytest.raises(ValueError, match="not a usable name"):
        CFG.model_validate({**CFG.model_dump(), "test_prompts": {"with_prompt": "x"}})



def test_the_predictor_battery_on_the_tiny_model(tiny_model, tokenizer, small_params, questions, tmp_path, monkeypatch):
    """Uplift on Spanish responses, drift on English ones (the control), elicitation from the
    trait eval's prompts: the prompt raises the trait's text, lowers the rest, and brings the
    trait out of the base model."""
    from inoclab import paths
    from inoclab.eval.predictors import predictor_battery
    from inoclab.io import write_jsonl

    monkeypatch.chdir(tmp_path)

    def pairs(answer):
        records = []
        for q in questions:
            msgs = [{"role": "user", "content": q.question}, {"role": "assistant", "content": answer(q)}]
            records += [{"messages": msgs}, {"messages": with_inoculation(msgs, INOC)}]
        return tokenize_records(tokenizer, records)

    paths.dataset("prompts").parent.mkdir(parents=True)
    write_jsonl(paths.dataset("prompts"), [{"messages": [{"role": "user", "content": q.question}]} for q in questions])
    trait = CFG.model_copy(update={"prompts": "prompts", "measure": SpanishMeasure(kind="spanish"),
                                   "test_prompts": {"paraphrase": "Answer in Spanish, please."}})
    out = predictor_battery(small_params, tiny_model, tokenizer, pairs(lambda q: q.answer_es),
                            pairs(lambda q: q.answer_en), trait)
    assert out["uplift"]["uplift"] > 5 and out["drift"]["uplift"] < 0
    assert out["uplift"]["pairs"] == out["drift"]["pairs"] == len(questions)
    e = out["elicitation"]
    assert (e["prompts"], e["n"]) == ("prompts", len(questions))  # the two conditions only, not the grid
    assert e["base_rate"] <= 0.2 and e["elicitation"] >= 0.8
    assert e["base_rate_ci"][1] < e["elicitation_ci"][0]
    # without control pairs or a trait eval: the uplift alone
    assert set(predictor_battery(small_params, tiny_model, tokenizer, pairs(lambda q: q.answer_es), None, None)) == {"uplift"}
