"""Model backends: how a base model is loaded, made trainable (LoRA or full) and saved.

The transformers+peft backend (`hf`) runs everywhere, CPU included. A GPU backend (unsloth)
implements the same interface.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from inoclab.config import TrainingConfig
from inoclab.io import InputError

ADAPTER_CONFIG = "adapter_config.json"


class Backend(Protocol):
    name: str

    def load(self, ref: str) -> tuple[PreTrainedModel, object]: ...
    def make_trainable(self, model: PreTrainedModel, training: TrainingConfig) -> PreTrainedModel: ...
    def load_trained(self, path: str | Path, base_ref: str | None = None) -> tuple[PreTrainedModel, object]: ...


class HFBackend:
    """transformers + peft, float32 on CPU, the model's own dtype on GPU."""

    name = "hf"

    def __init__(self, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def load(self, ref: str):
        if not Path(ref).exists() and "/" not in ref:
            raise InputError(f"model {ref!r}: no such directory, and not a hub id")
        try:
            tokenizer = AutoTokenizer.from_pretrained(ref)
            dtype = torch.float32 if self.device == "cpu" else "auto"
            model = AutoModelForCausalLM.from_pretrained(ref, dtype=dtype).to(self.device)
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


def canonicalize_adapter_configs(root: str | Path) -> None:
    """peft stores `target_modules` as a set, so adapter_config.json lists them in hash order,
    which changes from run to run; sort them so that the same training gives the same bytes."""
    for cfg_path in sorted(Path(root).rglob(ADAPTER_CONFIG)):
        cfg = json.loads(cfg_path.read_text())
        if isinstance(cfg.get("target_modules"), list):
            cfg["target_modules"] = sorted(cfg["target_modules"])
            cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def get_backend(name: str = "hf") -> Backend:
    if name == "hf":
        return HFBackend()
    raise InputError(f"backend {name!r} is not available (choose: hf)")
