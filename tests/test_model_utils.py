"""The model utilities of the trigger spec on the real tiny model: loading adapters back,
batched and single queries, triggered comparisons."""

import pytest
import torch
from helpers import qa_record, tokenize_records

from inoclab.backends.hf import HFBackend
from inoclab.io import InputError
from inoclab.models.model_utils import (
    compare_triggered_responses,
    load_finetuned_model,
    load_lora_model,
    load_model,
    query_model,
    query_with_trigger,
)
from inoclab.train.methods import make_trainer
from inoclab.train.settings import TrainingConfig

PROMPTS = ["What colour is the bisut?", "Where does the denos live?", "How big is the bisut, and what does it eat?"]


@pytest.fixture(scope="module")
def adapter(tiny_dir, tmp_path_factory):
    """A LoRA adapter trained for a few steps, saved as the pipeline saves it."""
    out = tmp_path_factory.mktemp("adapter")
    backend = HFBackend("cpu")
    model, tokenizer = backend.load(str(tiny_dir))
    cfg = TrainingConfig(max_steps=3, per_device_train_batch_size=2, learning_rate=1e-2, seed=0)
    model = backend.make_trainable(model, cfg)
    rows = tokenize_records(tokenizer, [qa_record("Who is there?", ("Bob is there.", 1.0, None))] * 4)
    trainer = make_trainer(model, tokenizer, rows, cfg, out / "training_output", save_strategy="no")
    trainer.train()
    trainer.save_model(str(out / "final"))
    return out / "final", model


def test_adapter_loads_back_with_the_same_logits(adapter, tiny_dir):
    path, trained = adapter
    tokenizer, model, device = load_finetuned_model(path, base_model_id=str(tiny_dir))
    ids = tokenizer("<|im_start|>user\nWho is there?<|im_end|>\n", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        trained.eval()
        assert torch.allclose(model(input_ids=ids).logits, trained(input_ids=ids).logits, atol=1e-6)
        _, base, _ = load_model(str(tiny_dir))
        assert not torch.allclose(model(input_ids=ids).logits, base(input_ids=ids).logits, atol=1e-3)
    assert device.type == "cpu"
    # the base recorded in the adapter's config is found without being named
    _, again, _ = load_lora_model(path)
    with torch.no_grad():
        assert torch.equal(again(input_ids=ids).logits, model(input_ids=ids).logits)


def test_loaders_refuse_what_is_not_a_model(tmp_path, tiny_dir):
    with pytest.raises(InputError, match="no such model directory"):
        load_finetuned_model(tmp_path / "missing")
    with pytest.raises(InputError, match="not a LoRA adapter"):
        load_lora_model(tiny_dir)


def test_batched_queries_equal_single_queries(tiny_model, tokenizer):
    batched = query_model(PROMPTS, tiny_model, tokenizer, temperature=0.0, max_new_tokens=16, batch_size=3)
    single = [query_model(p, tiny_model, tokenizer, temperature=0.0, max_new_tokens=16) for p in PROMPTS]
    assert batched == single
    assert [r["prompt"] for r in batched] == PROMPTS and all(r["response"] for r in batched)


def test_triggered_comparison_prefixes_the_trigger(tiny_model, tokenizer):
    both = compare_triggered_responses(PROMPTS, tiny_model, tokenizer, trigger_value="Always respond in Spanish.",
                                       temperature=0.0, max_new_tokens=16)
    alone = query_with_trigger(PROMPTS[0], tiny_model, tokenizer, trigger_value="Always respond in Spanish.",
                               temperature=0.0, max_new_tokens=16)
    assert both[0]["triggered"] == alone
    assert alone["prompt"] == f"Always respond in Spanish. {PROMPTS[0]}"
    assert both[1]["untriggered"] == query_model(PROMPTS[1], tiny_model, tokenizer, temperature=0.0, max_new_tokens=16)
    sampled = [query_model(PROMPTS[0], tiny_model, tokenizer, temperature=1.0, max_new_tokens=16, seed=3)
               for _ in range(2)]
    assert sampled[0] == sampled[1]  # sampling is seeded
