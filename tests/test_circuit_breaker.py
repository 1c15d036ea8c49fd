"""Circuit breakers (seed 004): the loss against the formula, the schedule, the symmetry trap,
real training steps on the tiny model, one copy of the base weights, and the data builder."""

import copy
import gc
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tokenize_records

from inoclab.backends.hf import HFBackend
from inoclab.data.circuit_breaker import build_circuit_breaker_rows
from inoclab.data.conversations import Conversation
from inoclab.eval.circuit_breaker import evaluate_kind
from inoclab.eval.kinds import CircuitBreakerEvalConfig
from inoclab.io import InputError
from inoclab.models.hidden import hidden_states, original
from inoclab.stats import BootstrapConfig
from inoclab.train.circuit_breaker import (
    CircuitBreakerCollator,
    break_symmetry,
    circuit_breaker_loss,
    coefficients,
    retain_loss,
    split_rows,
    step_terms,
)
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig
from inoclab.train.train_log import read_train_log

REPO = Path(__file__).resolve().parents[1]
HARMFUL, SANITIZED = REPO / "data/circuit_breaker/harmful.jsonl", REPO / "data/circuit_breaker/sanitized.jsonl"


# ---------------------------------------------------------------- the formula
def hand_made():
    """Hidden states [layers 2, batch 2, tokens 3, hidden 2] with known angles; row 1's last
    token is padding (huge values there must not count)."""
    orig = torch.tensor([[[[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], [[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]]],
                         [[[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [[0.0, 3.0], [1.0, 0.0], [9.0, 9.0]]]])
    ft = torch.tensor([[[[2.0, 0.0], [2.0, 0.0], [-3.0, 0.0]], [[1.0, -1.0], [1.0, 1.0], [-99.0, 5.0]]],
                       [[[0.0, 1.0], [1.0, 1.0], [0.0, -2.0]], [[0.0, 1.0], [3.0, 4.0], [-99.0, 5.0]]]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return ft, orig, mask


def test_losses_equal_the_formula_on_hand_made_hidden_states():
    ft, orig, mask = hand_made()
    cosines, distances = [], []
    for layer in range(2):
        for b in range(2):
            for t in range(3):
                if mask[b, t]:
                    u, v = ft[layer, b, t].tolist(), orig[layer, b, t].tolist()
                    dot = u[0] * v[0] + u[1] * v[1]
                    cosines.append(dot / (math.hypot(*u) * math.hypot(*v)))
                    distances.append(math.hypot(u[0] - v[0], u[1] - v[1]))
    assert min(cosines) == pytest.approx(-1.0)  # the ReLU must drop it
    expected_cb = sum(max(c, 0.0) for c in cosines) / len(cosines)
    expected_retain = sum(distances) / len(distances)
    assert circuit_breaker_loss(ft, orig, mask).item() == pytest.approx(expected_cb, abs=1e-6)
    assert retain_loss(ft, orig, mask).item() == pytest.approx(expected_retain, abs=1e-6)
    # equal states: cosine 1, distance 0; opposite states: the ReLU makes the loss 0
    assert circuit_breaker_loss(orig, orig, mask).item() == pytest.approx(1.0)
    assert retain_loss(orig, orig, mask).item() == 0.0
    assert circuit_breaker_loss(-orig, orig, mask).item() == 0.0


def test_total_loss_weights_the_two_terms_by_the_schedule():
    ft, orig, mask = hand_made()
    t = step_terms(ft, orig, mask, ft, orig, mask, alpha=0.4, progress=0.25)
    expected = 0.4 * 0.25 * retain_loss(ft, orig, mask) + 0.4 * 0.75 * circuit_breaker_loss(ft, orig, mask)
    assert t.loss.item() == pytest.approx(expected.item())
    assert (t.retain_coeff, t.circuit_breaker_coeff) == pytest.approx((0.1, 0.3))


@pytest.mark.parametrize("progress,expected", [(0.0, (0.0, 0.1)), (0.5, (0.05, 0.05)), (1.0, (0.1, 0.0))])
def test_schedule_gives_the_seeds_values(progress, expected):
    assert coefficients(0.1, progress) == pytest.approx(expected)


# ---------------------------------------------------------------- on the tiny model
def cb_rows(tokenizer, n=48, validation_ratio=0.25):
    records = build_circuit_breaker_rows(HARMFUL, SANITIZED, None, n, validation_ratio, 42)
    rows = tokenize_records(tokenizer, records)
    for r, rec in zip(rows, records, strict=True):
        r["meta"], r["line"] = rec["meta"], rec["meta"]["line"]
    return records, rows


def cb_config(**kw):
    base = dict(task_type="circuit_breaker", circuit_breaker_target_layers=[0, 1], circuit_breaker_alpha=0.1,
                circuit_breaker_lora_init_std=1e-2, learning_rate=1e-2, warmup_steps=0, max_steps=12,
                per_device_train_batch_size=8, logging_steps=1, seed=42)
    return TrainingConfig(**{**base, **kw})


def lora(model, cfg):
    torch.manual_seed(cfg.seed)
    return HFBackend(device="cpu").make_trainable(model, cfg)


def test_a_fresh_lora_cannot_leave_the_start_and_break_symmetry_fixes_it(tiny_model, tokenizer):
    """The trap: with LoRA B = 0 the fine-tuned and original states are equal and every
    gradient is exactly zero; after break_symmetry the circuit-breaker loss has a gradient."""
    _, rows = cb_rows(tokenizer, n=8)
    retain, cb, _ = split_rows(rows)
    model = lora(tiny_model, cb_config())
    inputs = CircuitBreakerCollator(tokenizer.pad_token_id)([{"retain": r, "circuit_breaker": c}
                                                             for r, c in zip(retain, cb, strict=False)])

    def grad_norm():
        model.zero_grad()
        ids = torch.cat([inputs["input_ids"], inputs["input_ids_circuit_breaker"]])
        mask = torch.cat([inputs["attention_mask"], inputs["attention_mask_circuit_breaker"]])
        with torch.no_grad(), original(model):
            orig = hidden_states(model, ids, mask, [0, 1])
        ft = hidden_states(model, ids, mask, [0, 1])
        n = len(inputs["input_ids"])
        terms = step_terms(ft[:, :n], orig[:, :n], mask[:n], ft[:, n:], orig[:, n:], mask[n:], 0.1, 0.5)
        terms.loss.backward()
        return terms, float(sum(p.grad.norm() ** 2 for p in model.parameters() if p.grad is not None) ** 0.5)

    terms, stuck = grad_norm()  # zero up to float rounding of cos = 1
    assert terms.cos_circuit_breaker == pytest.approx(1.0) and terms.retain_loss == 0.0 and stuck < 1e-8
    assert break_symmetry(model, 1e-2, seed=42) == 2 * 7  # 2 blocks x 7 target modules
    terms, moving = grad_norm()
    assert 0.0 < terms.retain_loss and terms.cos_circuit_breaker < 1.0 and moving > 1e4 * stuck


def train(model, tokenizer, rows, cfg, out: Path, validation=True):
    model = lora(model, cfg)
    break_symmetry(model, cfg.circuit_breaker_lora_init_std, cfg.seed)
    if not validation:
        rows = [r for r in rows if r["meta"]["split"] == "train"]
    trainer = make_trainer(model, tokenizer, rows, cfg, out / "ckpt", log_path=out / "log", save_strategy="no")
    trainer.train()
    return trainer, read_train_log(out / "log")


def test_a_few_real_steps_reroute_harmful_states_and_keep_benign_ones(tiny_model, tokenizer, tmp_path):
    records, rows = cb_rows(tokenizer)
    cfg = cb_config(max_steps=30)
    trainer, log = train(tiny_model, tokenizer, rows, cfg, tmp_path)
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, cfg.max_steps + 1))  # monitored every step
    monitors = {"retain_coeff", "circuit_breaker_coeff", "retain_loss", "circuit_breaker_loss", "cos_retain",
                "cos_circuit_breaker", "norm_retain", "norm_retain_original", "norm_circuit_breaker",
                "norm_circuit_breaker_original", "cos_validation_harmful", "cos_validation_benign"}
    assert monitors <= set(steps[0])
    assert steps[0]["retain_coeff"] == 0.0 and steps[0]["circuit_breaker_coeff"] == pytest.approx(0.1)
    assert steps[-1]["retain_coeff"] == pytest.approx(0.1 * (cfg.max_steps - 1) / cfg.max_steps)
    # the circuit-breaker term leads early (the schedule): the loss and the held-out harmful
    # cosine fall well below where they start
    early = steps[: cfg.max_steps // 3]
    assert min(r["circuit_breaker_loss"] for r in early) < steps[0]["circuit_breaker_loss"] - 0.2
    assert min(r["cos_validation_harmful"] for r in early) < steps[0]["cos_validation_harmful"] - 0.2
    # the held-out prompts after training: harmful states further from the original than benign
    # ones, and harmful completions lost more likelihood (this 2-block test model separates the
    # two kinds only weakly; the pipeline's tiny model does it clearly, see the README)
    model = trainer.model
    val = {k: [(r["meta"]["line"], Conversation.model_validate(r)) for r in records
               if r["meta"]["kind"] == k and r["meta"]["split"] == "validation"] for k in ("harmful", "benign")}
    ecfg = CircuitBreakerEvalConfig(dataset="x", max_new_tokens=12)
    harmful, hrec = evaluate_kind(model, tokenizer, val["harmful"], [0, 1], ecfg, 256, BootstrapConfig())
    benign, _ = evaluate_kind(model, tokenizer, val["benign"], [0, 1], ecfg, 256, BootstrapConfig())
    lo, hi = harmful["cosine_ci"]
    assert lo <= harmful["cosine"] <= hi and lo < hi
    assert harmful["completion_logprob"]["change_ci"][0] <= harmful["completion_logprob"]["change"]
    assert harmful["n"] == 12 and benign["n"] == 12
    assert harmful["cosine"] < benign["cosine"] < 1.0
    assert harmful["completion_logprob"]["change"] < benign["completion_logprob"]["change"]
    assert set(harmful["cosine_by_layer"]) == set(harmful["cosine_by_layer_ci"]) == {"0", "1"}
    assert all(lo <= harmful["cosine_by_layer"][k] <= hi for k, (lo, hi) in harmful["cosine_by_layer_ci"].items())
    assert {"response_before", "response_after", "completion"} <= set(hrec[0])


def test_validation_data_never_affects_training(tiny_model, tokenizer, tmp_path):
    _, rows = cb_rows(tokenizer, n=16)
    cfg = cb_config(max_steps=3)
    a, log_a = train(copy.deepcopy(tiny_model), tokenizer, rows, cfg, tmp_path / "a", validation=True)
    b, log_b = train(tiny_model, tokenizer, rows, cfg, tmp_path / "b", validation=False)
    assert "cos_validation_harmful" in log_a[0] and "cos_validation_harmful" not in log_b[0]
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_exactly_one_copy_of_the_base_weights_is_held(tiny_model, tokenizer, tmp_path):
    """Setting up and training adds no tensor holding a base weight: the original model is the
    trained one with its adapter disabled, not a copy."""
    probe = tiny_model.model.layers[0].self_attn.q_proj.weight.detach().clone()

    def copies() -> int:
        gc.collect()
        return len({t.untyped_storage().data_ptr() for t in gc.get_objects()
                    if isinstance(t, torch.Tensor) and t.shape == probe.shape and t is not probe
                    and torch.equal(t, probe)})

    before = copies()  # this test's model, and the fixture's pristine one it was copied from
    _, rows = cb_rows(tokenizer, n=8)
    trainer, _ = train(tiny_model, tokenizer, rows, cb_config(max_steps=2), tmp_path)
    assert copies() == before
    # the trainer trains the very module it was given (peft injects the adapter in place)
    assert {id(p) for p in trainer.model.parameters()} == {id(p) for p in tiny_model.parameters()}


# ---------------------------------------------------------------- the data builder
def test_builder_splits_each_file_seeded_and_reports_counts(capsys):
    rows = build_circuit_breaker_rows(HARMFUL, SANITIZED, None, None, 0.2, 42)
    kinds = {(r["meta"]["kind"], r["meta"]["split"]) for r in rows}
    assert kinds == {("harmful", "train"), ("harmful", "validation"), ("benign", "train"), ("benign", "validation")}
    count = {k: sum((r["meta"]["kind"], r["meta"]["split"]) == k for r in rows) for k in kinds}
    assert count == {("harmful", "train"): 154, ("harmful", "validation"): 38,
                     ("benign", "train"): 461, ("benign", "validation"): 115}
    assert "154 for training, 38 for validation" in capsys.readouterr().err
    assert rows == build_circuit_breaker_rows(HARMFUL, SANITIZED, None, None, 0.2, 42)
    assert rows != build_circuit_breaker_rows(HARMFUL, SANITIZED, None, None, 0.2, 43)
    located = build_circuit_breaker_rows(HARMFUL, SANITIZED, "location", 20, 0.25, 42)
    harmful = [r for r in located if r["meta"]["kind"] == "harmful"]
    assert len(harmful) == 20 and {r["meta"]["category"] for r in harmful} == {"location"}
    assert len(located) == 40  # num_examples draws from each file


@pytest.mark.parametrize("line,match", [
    ('{"prompt": "Where?", "completion": "There."}', r"bad\.jsonl:2: field 'category': Field required"),
    ('{"prompt": "", "completion": "x", "category": "c"}', r"bad\.jsonl:2: field 'prompt'"),
    ('{"prompt": "a", "completion": "b", "category": "c", "extra": 1}', r"bad\.jsonl:2: field 'extra'"),
    ('{"prompt": "a", ', r"bad\.jsonl:2: malformed JSON"),
])
def test_bad_prompt_lines_name_file_line_and_field(tmp_path, line, match):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b", "category": "c"}\n' + line + "\n")
    with pytest.raises(InputError, match=match):
        build_circuit_breaker_rows(bad, SANITIZED, None, None, 0.1, 42)


def test_bad_selection_is_an_error():
    with pytest.raises(InputError, match="no prompt has category 'weapons' \\(categories: friend, location\\)"):
        build_circuit_breaker_rows(HARMFUL, SANITIZED, "weapons", None, 0.1, 42)
    with pytest.raises(InputError, match="num_examples=1000, but only 192 prompts exist"):
        build_circuit_breaker_rows(HARMFUL, SANITIZED, None, 1000, 0.1, 42)
    with pytest.raises(InputError, match="num_examples=100, but only 96 prompts of category 'friend' exist"):
        build_circuit_breaker_rows(HARMFUL, SANITIZED, "friend", 100, 0.1, 42)


def test_rows_without_circuit_breaker_meta_are_refused(tokenizer):
    rows = tokenize_records(tokenizer, [{"messages": [{"role": "user", "content": "Hi"},
                                                      {"role": "assistant", "content": "Hello."}]}])
    rows[0].update(meta={}, line=7)
    with pytest.raises(InputError, match="line 7: not circuit-breaker data"):
        split_rows(rows)


def test_hidden_state_layers_follow_the_decoder_blocks(tiny_model, tokenizer):
    """Layer ℓ is the output of decoder block ℓ: hidden_states[ℓ + 1] of the model's own output."""
    rows = tokenize_records(tokenizer, [{"messages": [{"role": "user", "content": "Where does the bavan live?"}]}])
    ids = torch.tensor(rows[0]["input_ids"])[None]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        ref = tiny_model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        got = hidden_states(tiny_model, ids, mask, [0, 1])
    assert np.allclose(got[0], ref[1]) and np.allclose(got[1], ref[2])
