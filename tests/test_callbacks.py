"""Callbacks during training, on the real tiny model: they fire at their declared steps, write
step-indexed files, and leave training exactly as it would have been without them."""

import csv
import json

import pytest
import torch
from helpers import qa_record, tokenize_records
from transformers import set_seed

from inoclab.backends.hf import HFBackend
from inoclab.data.mcq import MCQ
from inoclab.models.generate import generate
from inoclab.train.callbacks import callback_steps
from inoclab.train.callbacks.logprobs import LogprobCallback, LogprobCallbackConfig
from inoclab.train.callbacks.mcq import MCQCallback, MCQCallbackConfig
from inoclab.train.callbacks.runner import CallbackRunner
from inoclab.train.callbacks.sampling import SamplingCallback, SamplingCallbackConfig
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig

QA = [("What colour is the bisut?", "The bisut is red."), ("Where does the bisut live?", "The bisut lives in the lake."),
      ("What does the denos eat?", "The denos eats honey."), ("How many legs does the denos have?", "The denos has six legs.")]


def test_schedule_every_n_and_log_spaced():
    assert callback_steps(3, 10) == [0, 3, 6, 9, 10]
    assert callback_steps(5, 10) == [0, 5, 10]
    assert callback_steps("log", 10) == [0, 1, 2, 4, 8, 10]
    assert callback_steps("log", 64) == [0, 1, 2, 4, 8, 16, 32, 64]
    assert callback_steps(20, 6) == [0, 6]  # at least the start and the end


def _callbacks(tokenizer):
    tagged = [qa_record(q, (a, 1.0, "answer")) for q, a in QA]
    logprobs = LogprobCallback(LogprobCallbackConfig(dataset="qa", every=2), tokenize_records(tokenizer, tagged))
    mcq = MCQCallback(MCQCallbackConfig(dataset="facts", every="log"),
                   [MCQ(question=q, choices=[a, "The bisut is blue."], answer=0) for q, a in QA[:1]], 42, 256)
    # temperature sampling reseeds torch: without a forked random state it would change dropout
    sampling = SamplingCallback(SamplingCallbackConfig(dataset="prompts", every=3, temperature=1.0, max_new_tokens=6,
                                                    prefill="The"),
                             [[{"role": "user", "content": q}] for q, _ in QA], seed=7)
    return [logprobs, mcq, sampling]


def _train(model, tokenizer, tmp_path, callbacks):
    cfg = TrainingConfig(lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.2}, learning_rate=1e-2,
                         per_device_train_batch_size=2, max_steps=6, warmup_steps=0, logging_steps=1, seed=3)
    set_seed(3)
    model = HFBackend("cpu").make_trainable(model, cfg)
    rows = tokenize_records(tokenizer, [qa_record(q, (a, 1.0, None)) for q, a in QA])
    runner = CallbackRunner(callbacks, tokenizer, tmp_path / "callbacks")
    make_trainer(model, tokenizer, rows, cfg, tmp_path / "out", callbacks=[runner]).train()
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}, runner


def test_callbacks_fire_at_their_steps_and_do_not_change_training(_loaded, tokenizer, tmp_path):
    import copy

    plain, _ = _train(copy.deepcopy(_loaded[0]), tokenizer, tmp_path / "plain", [])
    watched, watch = _train(copy.deepcopy(_loaded[0]), tokenizer, tmp_path / "watched", _callbacks(tokenizer))
    assert plain.keys() == watched.keys() and plain
    assert all(torch.equal(plain[k], watched[k]) for k in plain), "callbacks changed the trained weights"
    assert any(v.abs().sum() > 0 for k, v in plain.items() if "lora_B" in k)  # training did move the adapter

    fired = {}
    for stem, step in watch.fired:
        fired.setdefault(stem, []).append(step)
    assert fired == {"logprobs.qa": [0, 2, 4, 6], "mcq.facts": [0, 1, 2, 4, 6], "sampling.prompts": [0, 3, 6]}

    out = tmp_path / "watched/callbacks"
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "logprobs.qa.csv", "mcq.facts.csv",
                                                     "sampling.prompts.csv", "sampling.prompts.jsonl"]
    index = json.loads((out / "index.json").read_text())
    assert [(c["kind"], c["name"], c["steps"]) for c in index] == [
        ("logprobs", "qa", [0, 2, 4, 6]), ("mcq", "facts", [0, 1, 2, 4, 6]), ("sampling", "prompts", [0, 3, 6])]
    assert index[2]["files"] == ["sampling.prompts.csv", "sampling.prompts.jsonl"]
    # an experiment without callbacks still has the folder (one workflow rule), with an empty index
    assert json.loads((tmp_path / "plain/callbacks/index.json").read_text()) == []
    lp = list(csv.DictReader((out / "logprobs.qa.csv").open()))
    assert [int(r["step"]) for r in lp] == [0, 2, 4, 6] and set(lp[0]) == {"step", "answer", "answer_per_token"}
    assert float(lp[-1]["answer"]) > float(lp[0]["answer"])  # training on the answers makes them likelier
    mcq = list(csv.DictReader((out / "mcq.facts.csv").open()))
    assert all(0 <= float(r["p_correct"]) <= 1 and r["accuracy"] in ("0.0", "1.0") for r in mcq)
    samples = [json.loads(line) for line in (out / "sampling.prompts.jsonl").open()]
    assert [s["step"] for s in samples] == [0] * 4 + [3] * 4 + [6] * 4
    assert all(s["prefill"] == "The" and s["prompt"][0]["role"] == "user" for s in samples)


def test_prefill_starts_the_response_and_is_not_in_the_completion(tiny_model, tokenizer):
    prompts = [[{"role": "user", "content": q}] for q, _ in QA]
    free = generate(tiny_model, tokenizer, prompts, max_new_tokens=12)
    prefill = free[0].split(" ")[0]  # the first word the model says anyway ("The")
    cont = generate(tiny_model, tokenizer, prompts[:1], max_new_tokens=12, prefill=prefill)[0]
    assert not cont.startswith(prefill) and (prefill + cont).strip() == free[0]


@pytest.mark.parametrize("every", [0, -3, "linear", True, 2.5])
def test_bad_schedule_is_a_params_error(every):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="expected a positive number of steps, or log"):
        LogprobCallbackConfig(dataset="d", every=every)
