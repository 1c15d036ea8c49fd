"""The weighted SFT loss through the project's trainer on the real tiny model."""

import numpy as np
import pytest
import torch
from helpers import qa_record, tokenize_records, with_weights

from inoclab.eval.logprobs import block_logprobs, token_logprobs
from inoclab.models.collator import WeightedCollator
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig

QUESTIONS = ["What colour is the bisut?", "Where does the bisut live?", "What does the denos eat?",
             "How many legs does the denos have?"]
ANSWERS = ["The bisut is red.", "The bisut lives in the lake.", "The denos eats honey.",
           "The denos has six legs."]


def rows_for(tokenizer):
    return tokenize_records(tokenizer, [qa_record(q, (a, 1.0, None)) for q, a in zip(QUESTIONS, ANSWERS, strict=True)])


def full_cfg(**kw) -> TrainingConfig:
    base = dict(finetune="full", learning_rate=1e-3, per_device_train_batch_size=4, max_steps=1,
                warmup_steps=0, lr_scheduler_type="constant", logging_steps=1, seed=0)
    return TrainingConfig(**{**base, **kw})


def params_vector(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def batch_loss(trainer, rows) -> float:
    batch = WeightedCollator(trainer.processing_class.pad_token_id)(rows)
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


@pytest.mark.parametrize("value,sign", [(0.0, 0), (1.0, 1), (-1.0, -1)])
def test_loss_sign_follows_the_weights(tiny_model, tokenizer, tmp_path, value, sign):
    rows = with_weights(rows_for(tokenizer), value)
    trainer = make_trainer(tiny_model, tokenizer, rows, full_cfg(), tmp_path, save_strategy="no")
    loss = batch_loss(trainer, rows)
    assert np.sign(loss) == sign and (sign == 0) == (loss == 0.0)
    if value != 0:  # the magnitude is the mean CE over weighted tokens
        assert abs(batch_loss(trainer, with_weights(rows, 1.0))) == pytest.approx(abs(loss))


def test_all_zero_weights_give_no_update(tiny_model, tokenizer, tmp_path):
    rows = with_weights(rows_for(tokenizer), 0.0)
    before = params_vector(tiny_model)
    trainer = make_trainer(tiny_model, tokenizer, rows, full_cfg(max_steps=3), tmp_path, save_strategy="no")
    out = trainer.train()
    assert out.training_loss == 0.0
    assert torch.equal(before, params_vector(tiny_model))


def test_gradient_accumulation_4x1_equals_1x4(_loaded, tokenizer, tmp_path):
    import copy

    rows = rows_for(tokenizer)
    rows[1] = {**rows[1], "weights": rows[1]["weights"] * -0.5}  # mixed signs and magnitudes
    rows[2] = {**rows[2], "weights": rows[2]["weights"] * 3.0}
    results = []
    for bs, ga in [(1, 4), (4, 1)]:
        model = copy.deepcopy(_loaded[0])
        cfg = full_cfg(per_device_train_batch_size=bs, gradient_accumulation_steps=ga, max_grad_norm=0.0,
                       learning_rate=1.0)
        # SGD: the update is lr·grad, so equal gradients show as equal weights (Adam's first
        # step is lr·sign(grad) and would amplify float noise on near-zero components)
        trainer = make_trainer(model, tokenizer, rows, cfg, tmp_path / f"{bs}x{ga}", save_strategy="no",
                               optim="sgd")
        out = trainer.train()
        results.append((out.training_loss, params_vector(model)))
    (loss_a, params_a), (loss_b, params_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert torch.allclose(params_a, params_b, atol=1e-6)
    assert not torch.equal(params_a, params_vector(_loaded[0]))  # something was learned


def test_negative_block_falls_and_positive_block_rises(tiny_model, tokenizer, tmp_path):
    """Train on one answer with +1 and another with -1; measure with the project's logprob eval."""
    records = [qa_record("What colour is the bisut?", ("The bisut is red.", 1.0, "up")),
               qa_record("What colour is the denos?", ("The denos is blue.", -1.0, "down"))]
    rows = tokenize_records(tokenizer, records)

    def block_lp():
        blocks = block_logprobs(rows, token_logprobs(tiny_model, rows, tokenizer.pad_token_id))
        return {b["tag"]: b["logprob_sum"] for b in blocks if b["tag"]}

    before = block_lp()
    cfg = full_cfg(max_steps=5, per_device_train_batch_size=2)
    make_trainer(tiny_model, tokenizer, rows, cfg, tmp_path, save_strategy="no").train()
    after = block_lp()
    assert after["up"] > before["up"] + 0.1
    assert after["down"] < before["down"] - 0.1
