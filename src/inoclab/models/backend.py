"""Model backends: how a base model is loaded, made trainable (LoRA or full) and saved.

The transformers+peft backend (`hf`) runs everywhere, CPU included; the unsloth backend
(models/unsloth_backend.py, CUDA only) implements the same interface. `get_backend` resolves
params' `backend: auto | hf | unsloth` (models/selection.py).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Protocol

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from inoclab.config import Dtype, Params, TrainingConfig
from inoclab.io import InputError
from inoclab.models.selection import resolve_backend

ADAPTER_CONFIG = "adapter_config.json"


class Backend(Protocol):
    name: str

    def load(self, ref: str) -> tuple[PreTrainedModel, object]: ...
    def make_trainable(self, model: PreTrainedModel, training: TrainingConfig) -> PreTrainedModel: ...
    def load_trained(self, path: str | Path, base_ref: str | None = None) -> tuple[PreTrainedModel, object]: ...
    def inference(self, model: PreTrainedModel) -> contextlib.AbstractContextManager: ...


def check_model_ref(ref: str) -> None:
    """A model reference is a local directory or a hub id (`owner/name`)."""
    if not Path(ref).exists() and "/" not in ref:
        raise InputError(f"model {ref!r}: no such directory, and not a hub id")


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


def canonicalize_saved_files(root: str | Path) -> None:
    """Sort what libraries write in hash order, which changes from run to run, so that the same
    training gives the same bytes: peft's `target_modules` in adapter_config.json (a set), and
    the `tags` of TRL's model card (README.md front matter, built from a set)."""
    for cfg_path in sorted(Path(root).rglob(ADAPTER_CONFIG)):
        cfg = json.loads(cfg_path.read_text())
        if isinstance(cfg.get("target_modules"), list):
            cfg["target_modules"] = sorted(cfg["target_modules"])
            cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    for card in sorted(Path(root).rglob("README.md")):
        text = card.read_text(encoding="utf-8")
        if m := _CARD_TAGS.match(text):
            tags = sorted(m["tags"].splitlines(keepends=True))
            card.write_text(m["head"] + "".join(tags) + text[m.end():], encoding="utf-8")


_CARD_TAGS = re.compile(r"(?P<head>---\n(?:(?!---\n).*\n)*?tags:\n)(?P<tags>(?:- .*\n)+)")


def get_backend(name: str = "auto", dtype: Dtype = "auto", load_in_4bit: bool = False,
                max_seq_length: int = 2048) -> Backend:
    """The backend `name` resolves to on this machine (an explicit unsloth without CUDA fails)."""
    if resolve_backend(name, load_in_4bit) == "hf":
        return HFBackend(dtype=dtype)
    from inoclab.models.unsloth_backend import UnslothBackend  # imports unsloth: GPU only

    return UnslothBackend(dtype=dtype, load_in_4bit=load_in_4bit, max_seq_length=max_seq_length)


def backend_for(params: Params) -> Backend:
    """The backend params.yaml asks for (`backend`, `dtype`, `load_in_4bit`)."""
    return get_backend(params.backend, params.dtype, params.load_in_4bit, params.tokenize.max_seq_length)
