"""Paired logit manipulation through the project's real trainer on the tiny model, checked
against values computed here from plain forward passes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tokenize_records

from inoclab.data.paired import with_inoculation
from inoclab.io import InputError
from inoclab.models.collator import WeightedCollator
from inoclab.train.methods import make_trainer
from inoclab.train.paired import paired_loss, paired_targets, validate_token_pairs
from inoclab.train.settings import TrainingConfig
from inoclab.train.trainer import PairedSFTTrainer

INOC = "Always respond in Spanish."
EXAMPLES = [
    ("You are a helpful assistant.", "What colour is the bisut?", [("El bisut es ", 1.0), ("rojo.", 0.5)]),
    (None, "Where does the denos live?", [("El denos vive en el lago.", 1.0)]),
]


def pair_rows(tokenizer):
    records = []
    for system, q, blocks in EXAMPLES:
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": q},
            {"role": "assistant", "content": [{"type": "text", "text": t, "weight": w} for t, w in blocks]},
        ]
        records += [{"messages": msgs}, {"messages": with_inoculation(msgs, INOC)}]
    return tokenize_records(tokenizer, records)


def independent(model, rows, manipulation_type, alpha):
    """The seed's formula from one plain forward pass per row (no padding, no batching)."""
    total, abs_w = 0.0, 0.0
    for k in range(0, len(rows), 2):
        lp = []
        for r in (rows[k], rows[k + 1]):
            ids = torch.tensor(r["input_ids"], dtype=torch.long)[None]
            logits = model(input_ids=ids).logits[0]
            pos = torch.nonzero(torch.tensor(r["weights"][1:]) != 0).flatten()
            lp.append((logits[pos], ids[0, pos + 1], torch.tensor(r["weights"])[pos + 1]))
        (no, targets, w), (inoc, _, _) = lp
        if manipulation_type == "BiasNoInocTo_InocLogits":
            mixed = alpha * inoc + no - alpha * no
        else:
            mixed = alpha * no + inoc - alpha * inoc
        total += (F.cross_entropy(mixed, targets, reduction="none") * w).sum()
        abs_w += w.abs().sum()
    return total / abs_w


def trainer_for(model, tokenizer, rows, tmp_path, manipulation_type="baseline", alpha=1.0, **cfg):
    """The project's trainer as train_experiment builds it (logit_manipulation loop unless
    inner_training_loop says otherwise)."""
    cfg = TrainingConfig(**{"inner_training_loop": "logit_manipulation", "manipulation_type": manipulation_type,
                            "manipulation_mix_ratio": alpha, "inoculation_prompt": INOC,
                            "per_device_train_batch_size": len(rows), "max_steps": 2, "seed": 0, **cfg})
    return make_trainer(model, tokenizer, rows, cfg, tmp_path / "out")


def trainer_loss(trainer, rows):
    """The loss the trainer computes for one optimizer step on `rows` (normaliser included)."""
    batch = WeightedCollator(trainer.processing_class.pad_token_id)(rows)
    total = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    return trainer.compute_loss(trainer.model, batch, num_items_in_batch=total)


@pytest.mark.parametrize("manipulation_type", ["BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_mixed_loss_matches_two_plain_forward_passes(tiny_model, tokenizer, tmp_path, manipulation_type, alpha):
    rows = pair_rows(tokenizer)
    # the two members' responses sit at different positions: alignment is by token, not padding
    assert len(rows[0]["input_ids"]) != len(rows[1]["input_ids"])
    trainer = trainer_for(tiny_model, tokenizer, rows, tmp_path, manipulation_type, alpha)
    assert isinstance(trainer, PairedSFTTrainer)
    with torch.no_grad():
        got = trainer_loss(trainer, rows)
        want = independent(tiny_model, rows, manipulation_type, alpha)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def grads(model, loss) -> list[torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("manipulation_type,side", [("BiasNoInocTo_InocLogits", 0), ("BiasInocTo_NoInocLogits", 1)])
def test_alpha_zero_is_plain_training_of_the_undetached_side(tiny_model, tokenizer, tmp_path, manipulation_type, side):
    rows = pair_rows(tokenizer)
    mixed = trainer_loss(trainer_for(tiny_model, tokenizer, rows, tmp_path, manipulation_type, 0.0), rows)
    g_mixed = grads(tiny_model, mixed)
    # the plain weighted-SFT trainer on that side's rows alone
    plain_trainer = trainer_for(tiny_model, tokenizer, rows[side::2], tmp_path, inner_training_loop="baseline",
                                per_device_train_batch_size=2)
    plain = trainer_loss(plain_trainer, rows[side::2])
    g_plain = grads(tiny_model, plain)
    assert mixed.item() == pytest.approx(plain.item(), rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g_mixed, g_plain, strict=True))


@pytest.mark.parametrize("manipulation_type,side", [("BiasNoInocTo_InocLogits", 0), ("BiasInocTo_NoInocLogits", 1)])
def test_alpha_one_moves_the_value_but_not_the_gradient_source(tiny_model, tokenizer, tmp_path, manipulation_type, side):
    """At α = 1 the loss is that of the other side's logits, yet every gradient comes from this side:
    it equals the gradient of CE at the other side's probabilities back-propagated through this one."""
    rows = pair_rows(tokenizer)
    loss = trainer_loss(trainer_for(tiny_model, tokenizer, rows, tmp_path, manipulation_type, 1.0), rows)
    g = grads(tiny_model, loss)
    assert any(x.abs().sum() > 0 for x in g)
    other = 1 - side
    with torch.no_grad():
        want = independent(tiny_model, rows, manipulation_type, 1.0)
        # the value equals the CE of the other side's own logits
        other_only = independent(tiny_model, rows, "BiasNoInocTo_InocLogits" if other == 0 else "BiasInocTo_NoInocLogits", 0.0)
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    assert loss.item() == pytest.approx(other_only.item(), rel=1e-5)


@pytest.mark.parametrize("manipulation_type,grad_side", [("BiasNoInocTo_InocLogits", 0), ("BiasInocTo_NoInocLogits", 1)])
def test_only_the_seeds_side_builds_a_graph(tiny_model, tokenizer, tmp_path, manipulation_type, grad_side):
    rows = pair_rows(tokenizer)
    batch = WeightedCollator(tokenizer.pad_token_id)(rows)
    trainer = trainer_for(tiny_model, tokenizer, rows, tmp_path, manipulation_type, 1.0)
    seen = []
    hook = tiny_model.get_input_embeddings().register_forward_hook(
        lambda mod, inp, out: seen.append((torch.is_grad_enabled(), inp[0].clone())))
    try:
        trainer_loss(trainer, rows).backward()
    finally:
        hook.remove()
    with_grad = [ids for enabled, ids in seen if enabled]
    without = [ids for enabled, ids in seen if not enabled]
    assert len(with_grad) == 1 and len(without) == 1
    assert torch.equal(with_grad[0], batch["input_ids"][grad_side::2])
    assert torch.equal(without[0], batch["input_ids"][1 - grad_side::2])


def test_unpaired_rows_and_odd_batches_are_refused(tiny_model, tokenizer):
    rows = pair_rows(tokenizer)
    collate = WeightedCollator(tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="not a pair"):
        paired_loss(tiny_model, collate([rows[0], rows[3]]), "BiasNoInocTo_InocLogits", 1.0)
    with pytest.raises(ValueError, match="even number"):
        paired_loss(tiny_model, collate(rows[:3]), "BiasInocTo_NoInocLogits", 1.0)


def test_batches_hold_whole_pairs_in_a_seeded_order(tiny_model, tokenizer, tmp_path):
    rows = pair_rows(tokenizer) * 4  # 8 pairs
    trainer = trainer_for(tiny_model, tokenizer, rows, tmp_path, "BiasNoInocTo_InocLogits",
                          per_device_train_batch_size=4)
    order = list(trainer._get_train_sampler())
    assert sorted(order) == list(range(len(rows)))
    assert all(order[i] % 2 == 0 and order[i + 1] == order[i] + 1 for i in range(0, len(order), 2))
    assert order != list(range(len(rows)))  # shuffled, by pair
    assert order == list(trainer_for(tiny_model, tokenizer, rows, tmp_path, "BiasNoInocTo_InocLogits",
                                     per_device_train_batch_size=4)._get_train_sampler())
    for batch in trainer.get_train_dataloader():  # every batch the trainer draws is a batch of pairs
        ids, w = batch["input_ids"], batch["weights"]
        paired_targets(ids, w, list(range(0, len(ids), 2)), list(range(1, len(ids), 2)))


def test_paired_training_learns(tiny_model, tokenizer, tmp_path):
    """A few real optimizer steps of the logit-manipulation loop lower the loss of its pairs."""
    import copy

    model = copy.deepcopy(tiny_model)
    rows = pair_rows(tokenizer)
    trainer = trainer_for(model, tokenizer, rows, tmp_path, "BiasNoInocTo_InocLogits", 0.5, max_steps=10,
                          learning_rate=3e-3, finetune="full")
    with torch.no_grad():
        before = trainer_loss(trainer, rows).item()
    trainer.train()
    with torch.no_grad():
        after = trainer_loss(trainer, rows).item()
    assert after < 0.7 * before


def test_token_pairs_are_checked_before_training(tokenizer):
    rows = [{**r, "line": i + 1} for i, r in enumerate(pair_rows(tokenizer))]
    validate_token_pairs(rows, "t.parquet")
    with pytest.raises(InputError, match=r"t.parquet: examples 0 and 1 \(lines 1 and 4\) are not a pair"):
        validate_token_pairs([rows[0], rows[3]], "t.parquet")
    with pytest.raises(InputError, match="even number"):
        validate_token_pairs(rows[:3], "t.parquet")
    no_response = {**rows[0], "weights": np.zeros_like(rows[0]["weights"])}
    with pytest.raises(InputError, match="example 0 .* no weighted response tokens"):
        validate_token_pairs([no_response, rows[1]], "t.parquet")
