"""Preference data and training: rows are validated line by line; DPO and ORPO on the real tiny
model raise the chosen-minus-rejected margin on held-out pairs."""

import json

import pytest

from inoclab.backends.hf import HFBackend
from inoclab.data.preference import build_preference_rows, read_preference
from inoclab.eval.preference import preference_eval
from inoclab.io import InputError, write_jsonl
from inoclab.stats import BootstrapConfig
from inoclab.tokenize import tokenize_file
from inoclab.train.preference import (
    REFERENCE_ADAPTER,
    check_lengths,
    drop_reference_adapter,
    make_preference_trainer,
)
from inoclab.train.resume import TrainerAccumulators
from inoclab.train.settings import TrainingConfig

SHIPPED = "data/preference/spanish.jsonl"
GOOD = {"prompt": [{"role": "user", "content": "What colour is the bisut?"}],
        "chosen": "El bisut es rojo.", "rejected": "The bisut is red."}


def write_rows(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("bad,match", [
    ({**GOOD, "rejected": None}, r"pairs.jsonl:3: field 'rejected"),
    ({k: v for k, v in GOOD.items() if k != "chosen"}, r"pairs.jsonl:3: field 'chosen': Field required"),
    ({**GOOD, "prompt": [*GOOD["prompt"], {"role": "assistant", "content": "Hm."}]},
     r"pairs.jsonl:3: field 'prompt': .*must end with a user message"),
    ({**GOOD, "rejected": "El bisut es rojo."}, r"pairs.jsonl:3: .*chosen and rejected are the same"),
    ({**GOOD, "chosen": [{"role": "user", "content": "El bisut es rojo."}]}, r"pairs.jsonl:3: field 'chosen"),
    ({**GOOD, "prompt": []}, r"pairs.jsonl:3: field 'prompt'"),
    ('{"prompt": [', r"pairs.jsonl:3: malformed JSON"),
])
def test_a_bad_preference_row_fails_with_its_line(tmp_path, bad, match):
    path = write_rows(tmp_path / "pairs.jsonl", [GOOD, {**GOOD, "chosen": [{"role": "assistant", "content": "¡Rojo!"}]},
                                                 bad])
    with pytest.raises(InputError, match=match):
        read_preference(path)


def test_both_response_forms_read_the_same(tmp_path):
    path = write_rows(tmp_path / "pairs.jsonl", [GOOD, {**GOOD, "chosen": [{"role": "assistant", "content": GOOD["chosen"]}]}])
    (_, a), (_, b) = read_preference(path)
    assert a.trl_row() == b.trl_row()
    assert a.trl_row()["rejected"] == [{"role": "assistant", "content": "The bisut is red."}]


def test_a_pair_longer_than_max_seq_length_is_an_error_not_a_silent_cut(tokenizer, tmp_path):
    path = write_rows(tmp_path / "pairs.jsonl", [GOOD, {**GOOD, "chosen": "El bisut es rojo. " * 40}])
    with pytest.raises(InputError, match=r"pairs.jsonl: 1 preference pair.* lines: 2\b"):
        check_lengths(tokenizer, read_preference(path), path, 64)
    check_lengths(tokenizer, read_preference(path), path, 1024)


def _split(tmp_path):
    for split in ("train", "heldout"):
        write_jsonl(tmp_path / f"{split}.jsonl", build_preference_rows(SHIPPED, split, 0.25, 42))
    return tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"


@pytest.mark.parametrize("loss", ["dpo", "orpo"])
def test_preference_training_raises_the_heldout_margin(tiny_model, tokenizer, tmp_path, loss):
    train, heldout = _split(tmp_path)
    assert not {p.prompt[0].content for _, p in read_preference(train)} & \
        {p.prompt[0].content for _, p in read_preference(heldout)}  # held-out questions are new
    cfg = TrainingConfig(loss=loss, beta=0.2, learning_rate=5e-3, per_device_train_batch_size=8, max_steps=12,
                         warmup_steps=0, logging_steps=4, seed=0)
    model = HFBackend("cpu").make_trainable(tiny_model, cfg)
    trainer = make_preference_trainer(model, tokenizer, read_preference(train), cfg, tmp_path / "out", 256)
    assert trainer.args.beta == 0.2  # beta is honoured
    # the same precision and recomputation as SFT on this machine: float32, no autocast, no checkpointing
    assert (trainer.args.bf16, trainer.args.fp16, trainer.args.gradient_checkpointing) == (False, False, False)
    trainer.train()
    # a resumed run gets back what TRL averages at each record (train/resume.py reads it by name)
    kept = TrainerAccumulators(trainer).resume_state()
    assert {"dpo": {"trl_metrics", "trl_total_train_tokens"}, "orpo": {"trl_stored_metrics"}}[loss] <= set(kept)
    assert (REFERENCE_ADAPTER in model.peft_config) == (loss == "dpo")  # DPO's reference: the initial adapter
    drop_reference_adapter(model)
    assert list(model.peft_config) == ["default"]

    rows, _ = tokenize_file(tokenizer, heldout, 256, True, preference=True)
    result, details = preference_eval(model, rows, tokenizer.pad_token_id, BootstrapConfig())
    assert result["n_pairs"] == len(details) == 24
    assert result["after"]["margin"] > result["before"]["margin"] + 5, result
    assert result["after"]["accuracy"] > result["before"]["accuracy"]
    # the change in margin is far outside its interval's reach of 0; the interval holds the estimate
    lo, hi = result["margin_change_ci"]
    assert 0 < lo <= result["margin_change"] <= hi
    assert result["margin_change"] == pytest.approx(sum(d["margin"] - d["margin_before"] for d in details) / 24)
