"""Paired logit manipulation on the real tiny model, checked against plain forward passes."""

import pytest
import torch
import torch.nn.functional as F
from helpers import tokenize_records

from inoclab.data.builders import with_inoculation
from inoclab.train.collator import WeightedCollator
from inoclab.train.loss import weighted_sft_loss
from inoclab.train.paired import paired_loss, trained_abs_weight

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


@pytest.mark.parametrize("manipulation_type", ["BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_mixed_loss_matches_two_plain_forward_passes(tiny_model, tokenizer, manipulation_type, alpha):
    rows = pair_rows(tokenizer)
    # the two members' responses sit at different positions: alignment is by token, not padding
    assert len(rows[0]["input_ids"]) != len(rows[1]["input_ids"])
    batch = WeightedCollator(tokenizer.pad_token_id)(rows)
    with torch.no_grad():
        got = paired_loss(tiny_model, batch, manipulation_type, alpha)
        want = independent(tiny_model, rows, manipulation_type, alpha)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize("manipulation_type,side", [("BiasNoInocTo_InocLogits", 0), ("BiasInocTo_NoInocLogits", 1)])
def test_alpha_zero_is_plain_training_of_the_undetached_side(tiny_model, tokenizer, manipulation_type, side):
    rows = pair_rows(tokenizer)
    batch = WeightedCollator(tokenizer.pad_token_id)(rows)
    side_batch = WeightedCollator(tokenizer.pad_token_id)(rows[side::2])

    def grads(loss):
        tiny_model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in tiny_model.parameters()]

    mixed = paired_loss(tiny_model, batch, manipulation_type, 0.0)
    g_mixed = grads(mixed)
    plain = weighted_sft_loss(tiny_model(input_ids=side_batch["input_ids"],
                                         attention_mask=side_batch["attention_mask"]).logits,
                              side_batch["input_ids"], side_batch["weights"])
    g_plain = grads(plain)
    assert mixed.item() == pytest.approx(plain.item(), rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g_mixed, g_plain, strict=True))
    assert trained_abs_weight(batch["weights"], manipulation_type) == side_batch["weights"][:, 1:].abs().sum()


@pytest.mark.parametrize("manipulation_type,grad_side", [("BiasNoInocTo_InocLogits", 0), ("BiasInocTo_NoInocLogits", 1)])
def test_only_the_seeds_side_builds_a_graph(tiny_model, tokenizer, manipulation_type, grad_side):
    rows = pair_rows(tokenizer)
    batch = WeightedCollator(tokenizer.pad_token_id)(rows)
    seen = []
    hook = tiny_model.get_input_embeddings().register_forward_hook(
        lambda mod, inp, out: seen.append((torch.is_grad_enabled(), inp[0].clone())))
    try:
        paired_loss(tiny_model, batch, manipulation_type, 1.0).backward()
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
