"""The pressure measures on pairs (train/pressure.py, callbacks.pressure) on the tiny model: equal
to a direct computation from plain forward passes, and taking them during training leaves the
trained weights bitwise as they would have been."""

import copy
import csv
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import tokenize_records
from test_paired import INOC
from transformers import set_seed

from inoclab.backends.hf import HFBackend
from inoclab.config import load_params
from inoclab.data.paired import with_inoculation
from inoclab.io import InputError
from inoclab.train.callbacks.pressure import (
    MEASURES,
    TRAINED,
    PressureCallback,
    PressureCallbackConfig,
)
from inoclab.train.callbacks.runner import CallbackRunner
from inoclab.train.methods import make_trainer
from inoclab.train.pressure import measure_pressure, pair_batches
from inoclab.train.settings import TrainingConfig

# three pairs; weights other than 1 (a negative one too), prompts of different lengths
EXAMPLES = [
    ("What colour is the bisut?", [("El bisut es ", 1.0), ("rojo.", 0.5)]),
    ("Where does the denos live, and what does it eat?", [("El denos vive en el lago.", 2.0)]),
    ("How many legs does the nakox have?", [("Cuatro.", 1.0), (" Seis.", -1.0)]),
]


def pair_rows(tokenizer, examples=EXAMPLES):
    records = []
    for q, blocks in examples:
        msgs = [{"role": "user", "content": q},
                {"role": "assistant", "content": [{"type": "text", "text": t, "weight": w} for t, w in blocks]}]
        records += [{"messages": msgs}, {"messages": with_inoculation(msgs, INOC)}]
    return tokenize_records(tokenizer, records)


def lora(model, seed=0, dropout=0.0):
    """The model with a LoRA adapter whose B matrices are not zero (an adapter mid-training)."""
    model = HFBackend("cpu").make_trainable(model, TrainingConfig(lora={"r": 4, "lora_alpha": 8, "lora_dropout": dropout}))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def direct(model, rows, alpha):
    """Every measure from one plain full forward pass per row (no padding, no batching, full
    logits), and gradients from torch.autograd.grad."""
    trained = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    per_pair, losses, mixed_terms, kls, lps = [], {"no": [], "inoc": []}, [], [], {"no": [], "inoc": []}
    abs_w = {"no": 0.0, "inoc": 0.0}
    for k in range(0, len(rows), 2):
        side = {}
        for name, r in (("no", rows[k]), ("inoc", rows[k + 1])):
            ids = torch.tensor(r["input_ids"], dtype=torch.long)[None]
            logits = model(input_ids=ids).logits[0]
            pos = torch.nonzero(torch.tensor(r["weights"][1:]) != 0).flatten()
            side[name] = (logits[pos], ids[0, pos + 1], torch.tensor(r["weights"])[pos + 1])
        (no, targets, w_no), (inoc, targets_inoc, _) = side["no"], side["inoc"]
        assert torch.equal(targets, targets_inoc)
        for name, (logits, _, w) in side.items():
            lp = F.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0]
            lps[name].append(lp.sum())
            losses[name].append((-lp * w).sum())
            abs_w[name] += w.abs().sum()
        p_no, p_inoc = F.log_softmax(no, -1), F.log_softmax(inoc, -1)
        kls.append((p_no.exp() * (p_no - p_inoc)).sum(-1))
        per_pair.append(len(targets))
        mixed = alpha * inoc.detach() + no - alpha * no.detach()  # BiasNoInocTo_InocLogits
        mixed_terms.append((F.cross_entropy(mixed, targets, reduction="none") * w_no).sum())
    out = {f"logprob_{n}": float(torch.stack(lps[n]).mean().detach()) for n in lps}
    out["uplift"] = float((torch.stack(lps["inoc"]) - torch.stack(lps["no"])).mean())
    out["uplift_per_token"] = float((torch.stack(lps["inoc"]) - torch.stack(lps["no"])).sum() / sum(per_pair))
    out["kl_no_inoc"] = float(torch.cat(kls).mean())

    def grad_norm(loss):
        return float(torch.sqrt(sum((g ** 2).sum() for g in torch.autograd.grad(loss, trained, retain_graph=True))))

    for n in ("no", "inoc"):
        loss = torch.stack(losses[n]).sum() / abs_w[n]
        out[f"loss_{n}"], out[f"grad_norm_{n}"] = float(loss), grad_norm(loss)
    out[TRAINED] = grad_norm(torch.stack(mixed_terms).sum() / abs_w["no"])
    return out


def test_measures_equal_a_direct_computation(tiny_model, tokenizer):
    model = lora(tiny_model)
    rows = pair_rows(tokenizer)
    assert len({len(r["input_ids"]) for r in rows}) > 2  # padding and alignment are exercised
    # state the measurement must leave as it found it: train mode and the parameters' gradients
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    for p in trained:
        p.grad = torch.full_like(p, 0.25)
    # micro-batches of one pair: the gradients add up over them
    got = measure_pressure(model, pair_batches(rows, tokenizer.pad_token_id, 2, "cpu"),
                           ("BiasNoInocTo_InocLogits", 0.5))
    assert model.training and all(torch.equal(p.grad, torch.full_like(p, 0.25)) for p in trained)
    for p in trained:
        p.grad = None
    want = direct(model, rows, 0.5)
    assert set(got) == set(MEASURES) | {TRAINED} == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-4, abs=1e-6), k
    # the prompt does something to this model, and the measures see it
    assert got["kl_no_inoc"] > 1e-4 and got["grad_norm_no"] > 0 and got["loss_no"] != got["loss_inoc"]
    # one batch of all pairs gives the same numbers
    whole = measure_pressure(model, pair_batches(rows, tokenizer.pad_token_id, 6, "cpu"), ("BiasNoInocTo_InocLogits", 0.5))
    assert all(whole[k] == pytest.approx(got[k], rel=1e-4, abs=1e-6) for k in got)


def test_a_batch_that_is_not_pairs_is_refused(tiny_model, tokenizer):
    rows = pair_rows(tokenizer)
    with pytest.raises(ValueError, match="not a pair"):
        pair_batches([rows[0], rows[3]], tokenizer.pad_token_id, 2, "cpu")
    with pytest.raises(ValueError, match="even"):
        pair_batches(rows, tokenizer.pad_token_id, 3, "cpu")


def _train(model, tokenizer, tmp_path, callbacks):
    cfg = TrainingConfig(lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.2}, learning_rate=1e-2, max_steps=6,
                         per_device_train_batch_size=2, warmup_steps=0, logging_steps=1, seed=3,
                         inner_training_loop="logit_manipulation", manipulation_type="BiasNoInocTo_InocLogits",
                         manipulation_mix_ratio=0.5, inoculation_prompt=INOC)
    set_seed(3)
    model = HFBackend("cpu").make_trainable(model, cfg)
    rows = pair_rows(tokenizer)
    runner = CallbackRunner(callbacks, tokenizer, tmp_path / "callbacks")
    make_trainer(model, tokenizer, rows, cfg, tmp_path / "out", callbacks=[runner]).train()
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def test_measuring_during_training_leaves_the_weights_bitwise_unchanged(_loaded, tokenizer, tmp_path):
    plain = _train(copy.deepcopy(_loaded[0]), tokenizer, tmp_path / "plain", [])
    cfg = PressureCallbackConfig(dataset="pairs", every=2, n_pairs=3, batch_size=4)
    probe = PressureCallback(cfg, pair_rows(tokenizer), ("BiasNoInocTo_InocLogits", 0.5))
    watched = _train(copy.deepcopy(_loaded[0]), tokenizer, tmp_path / "watched", [probe])
    assert plain.keys() == watched.keys() and plain
    assert all(torch.equal(plain[k], watched[k]) for k in plain), "measuring the pressure changed the trained weights"
    assert any(v.abs().sum() > 0 for k, v in plain.items() if "lora_B" in k)  # training did move the adapter

    curve = list(csv.DictReader((tmp_path / "watched/callbacks/pressure.pairs.csv").open()))
    assert [int(r["step"]) for r in curve] == [0, 2, 4, 6]
    assert list(curve[0]) == ["step", *MEASURES, TRAINED]
    assert all(math.isfinite(float(v)) for r in curve for v in r.values())
    # at step 0 LoRA's B is zero: the gradient reaches only B; training on the no member lowers its loss
    assert float(curve[0]["grad_norm_no"]) > 0
    assert float(curve[-1]["loss_no"]) < float(curve[0]["loss_no"])


PARAMS = """\
datasets:
  plain: {builder: qa, language: es, entities: heldout, question_template: 0}
  pairs: {builder: paired, source: plain, inoculation_prompt: Always respond in Spanish.}
experiments:
  base:
    dataset: plain
    callbacks:
      pressure: [{dataset: pairs, every: 10}]
"""


def test_the_pressure_callback_reads_paired_data(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text(PARAMS)
    (c,) = load_params(p).experiment("base").callbacks.all()
    assert (c.kind, c.dataset, c.every, c.n_pairs) == ("pressure", "pairs", 10, 16)
    p.write_text(PARAMS.replace("{dataset: pairs, every: 10}", "{dataset: plain}"))
    with pytest.raises(InputError, match=rf"{p}:8: key 'experiments.base.callbacks.pressure.0.dataset'.*not paired"):
        load_params(p)
    p.write_text(PARAMS.replace("every: 10}", "batch_size: 5}"))
    with pytest.raises(InputError, match="batch_size must be even"):
        load_params(p)
