"""The transformers + peft backend: runs everywhere, CPU included."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from inoclab.backends.common import ADAPTER_CONFIG, Dtype, check_model_ref
from inoclab.io import InputError

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig


def torch_dtype(dtype: Dtype, device: str):
    """`auto`: float32 on CPU (bitwise reproducible), the checkpoint's own dtype on GPU."""
    if dtype == "auto":
        return torch.float32 if device == "cpu" else "auto"
    return getattr(torch, dtype)


class HFBackend:
    """transformers + peft, float32 on CPU, the model's own dtype on GPU (or params' `dtype`)."""

    name = "hf"

    def __init__(self, device: str | None = None, dtype: Dtype = "auto"):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype

    def load(self, ref: str):
        check_model_ref(ref)
        try:
            tokenizer = AutoTokenizer.from_pretrained(ref)
            model = AutoModelForCausalLM.from_pretrained(
                ref, dtype=torch_dtype(self.dtype, self.device)).to(self.device)
        except OSError as e:
            raise InputError(f"model {ref!r} could not be loaded: {e}") from None
        return model, tokenizer

    def make_trainable(self, model, training: TrainingConfig):
        if training.finetune == "full":
            for p in model.parameters():
                p.requires_grad_(True)
            return model
        lc = training.lora
        cfg = PeftLoraConfig(
            r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
            target_modules=list(lc.target_modules), task_type="CAUSAL_LM", bias="none",
        )
        return get_peft_model(model, cfg)

    def load_trained(self, path: str | Path, base_ref: str | None = None):
        """A trained model directory: full weights, or a LoRA adapter on its base."""
        path = Path(path)
        adapter_cfg = path / ADAPTER_CONFIG
        if not adapter_cfg.exists():
            return self.load(str(path))
        base = base_ref or json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        model, tokenizer = self.load(base)
        model = PeftModel.from_pretrained(model, str(path)).to(self.device)
        return model, tokenizer

    @contextlib.contextmanager
    def inference(self, model):
        """Measurements during training: eval mode (no dropout), then the mode it had."""
        was_training = model.training
        model.eval()
        try:
            yield model
        finally:
            model.train(was_training)
