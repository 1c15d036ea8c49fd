"""The LM head at weighted positions only (models/head.py) gives what the full forward gives
there: logits, the weighted loss and its gradient, and teacher-forced logprobs."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import qa_record, tokenize_records
from transformers import AutoConfig, AutoModelForCausalLM

from inoclab.backends.hf import HFBackend
from inoclab.eval.logprobs import token_logprobs
from inoclab.models.collator import WeightedCollator
from inoclab.models.head import head, logits_at, mix_logits, next_token_positions, weighted_head_ce
from inoclab.train.loss import weighted_sft_loss
from inoclab.train.settings import TrainingConfig

RECORDS = [qa_record("What colour is the bisut?", ("El bisut es ", 1.0, None), ("rojo.", -0.5, None)),
           qa_record("Where does the denos live?", ("The denos lives in the lake.", 2.0, None),
                     system="Always respond in Spanish.")]


def batch_of(tokenizer):
    rows = tokenize_records(tokenizer, RECORDS)
    return rows, WeightedCollator(tokenizer.pad_token_id)(rows)


def lora(model):
    """A LoRA model whose adapter already moved (B ≠ 0), as during training."""
    model = HFBackend("cpu").make_trainable(copy.deepcopy(model), TrainingConfig(seed=0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model


def test_logits_at_weighted_positions_equal_the_full_forwards(tiny_model, tokenizer):
    _, batch = batch_of(tokenizer)
    model = lora(tiny_model)
    positions = next_token_positions(batch["weights"])
    assert 0 < positions.sum() < positions.numel() / 2  # most positions are not computed
    full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[positions]
    torch.testing.assert_close(logits_at(model, batch["input_ids"], batch["attention_mask"], positions), full,
                               rtol=1e-5, atol=1e-5)


def test_the_weighted_loss_and_its_gradient_equal_the_full_logits_computation(tiny_model, tokenizer):
    _, batch = batch_of(tokenizer)
    ids, mask, w = batch["input_ids"], batch["attention_mask"], batch["weights"]
    ours, ref = lora(tiny_model), None
    ref = copy.deepcopy(ours)
    loss = weighted_sft_loss(ours, ids, mask, w)
    logits = ref(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    ce = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    expected = (ce * w[:, 1:]).sum() / w[:, 1:].abs().sum()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    loss.backward()
    expected.backward()
    grads = {n: p.grad for n, p in ours.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for g in grads.values())
    for n, p in ref.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-6)


def test_token_logprobs_are_computed_at_block_tokens_and_equal_the_full_forwards(tiny_model, tokenizer):
    rows, batch = batch_of(tokenizer)
    lps = token_logprobs(tiny_model, rows, tokenizer.pad_token_id)
    with torch.no_grad():
        logits = tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    full = -F.cross_entropy(logits[:, :-1].transpose(1, 2), batch["input_ids"][:, 1:], reduction="none")
    for j, (row, lp) in enumerate(zip(rows, lps, strict=True)):
        in_block = row["block_index"] >= 0
        in_block[0] = False
        assert in_block.sum() > 0 and np.isnan(lp[~in_block]).all()
        np.testing.assert_allclose(lp[in_block], full[j, np.nonzero(in_block)[0] - 1].numpy(), rtol=1e-5, atol=1e-5)


# architectures whose forward transforms the logits after the head: the transform is applied too
POST_HEAD = {
    "gemma2": {"final_logit_softcapping": 3.0},
    "cohere": {"logit_scale": 0.25},
    "granite": {"logits_scaling": 4.0},
}


@pytest.mark.parametrize("model_type", sorted(POST_HEAD))
def test_post_head_transforms_of_real_architectures_are_applied(model_type):
    cfg = AutoConfig.for_model(model_type, vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=8, **POST_HEAD[model_type])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    ids = torch.randint(0, 97, (2, 9))
    mask = torch.ones_like(ids)
    positions = torch.rand(2, 9) < 0.5
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).logits[positions]
        plain = model.get_output_embeddings()(model.get_decoder()(input_ids=ids).last_hidden_state[positions])
        assert not torch.allclose(plain, full, atol=1e-3)  # the transform matters for this architecture
        torch.testing.assert_close(logits_at(model, ids, mask, positions), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type", ["llama", "gemma2"])
@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_the_chunked_head_loss_equals_one_pass_in_value_and_gradient(model_type, chunk):
    """Σ coef·CE taken a chunk of positions at a time, with each chunk's gradient taken in the
    forward pass: the value, the gradient to the hidden states and to a head that trains (tied or
    not, soft-capped or not) equal one pass over all positions, with and without the paired mix."""
    cfg = AutoConfig.for_model(model_type, vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                               tie_word_embeddings=model_type == "gemma2", **POST_HEAD.get(model_type, {}))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    n = 11
    hidden0, toward = torch.randn(n, 32), torch.randn(n, 32)
    targets, coef = torch.randint(0, 97, (n,)), torch.randn(n)
    for other, alpha in ((None, 0.0), (toward, 0.7)):
        grads = []
        for run in ("chunked", "one pass"):
            model.zero_grad()
            hidden = hidden0.clone().requires_grad_()
            if run == "chunked":
                loss = weighted_head_ce(model, hidden, targets, coef, toward=other, alpha=alpha, chunk=chunk)
            else:
                logits = head(model, hidden).float()
                if other is not None:
                    logits = mix_logits(logits, head(model, other).detach(), alpha)
                loss = (F.cross_entropy(logits, targets, reduction="none") * coef).sum()
            (3.0 * loss).backward()  # an incoming gradient other than 1 scales both
            weight = model.get_output_embeddings().weight
            assert weight.grad is not None and weight.grad.abs().sum() > 0
            grads.append((loss.detach(), hidden.grad, weight.grad.clone()))
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_chunked_head_loss_runs_under_torchs_flop_counter(tiny_model):
    """The FLOP counter's module hooks sit on the head's input, a leaf inside the chunk loop."""
    from torch.utils.flop_counter import FlopCounterMode

    width = tiny_model.get_output_embeddings().in_features
    hidden = torch.randn(5, width, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        weighted_head_ce(tiny_model, hidden, torch.zeros(5, dtype=torch.long), torch.ones(5), chunk=2).backward()
    assert hidden.grad.abs().sum() > 0 and counter.get_total_flops() > 0


def test_a_head_chunk_must_hold_a_position(tiny_model):
    with pytest.raises(ValueError, match="chunk must be at least 1"):
        weighted_head_ce(tiny_model, torch.zeros(2, 8), torch.zeros(2, dtype=torch.long), torch.ones(2), chunk=0)
