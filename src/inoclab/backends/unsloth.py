"""The unsloth backend: FastLanguageModel loading (4-bit optional) and LoRA, CUDA only.

Everything after loading (weighted SFT, logit mixing, circuit breakers, evals) is the same code
as with transformers+peft: unsloth's models are transformers models and its LoRA models are
peft models. Import this module only through `inoclab.backends.get_backend`, which has checked for CUDA.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from inoclab.backends import preload
from inoclab.backends.common import ADAPTER_CONFIG, Dtype, check_model_ref
from inoclab.io import InputError

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig

# A guard: the stage entry point (inoclab.stages) has imported unsloth before transformers already.
preload("unsloth")

from unsloth import FastLanguageModel  # noqa: E402


class UnslothBackend:
    name = "unsloth"

    def __init__(self, dtype: Dtype = "auto", load_in_4bit: bool = False, max_seq_length: int = 2048):
        self.device = "cuda"
        # auto: unsloth's choice (bfloat16 where the GPU has it, else float16)
        self.dtype = None if dtype == "auto" else getattr(torch, dtype)
        self.load_in_4bit = load_in_4bit
        self.max_seq_length = max_seq_length

    def load(self, ref: str):
        check_model_ref(ref)
        try:
            model, tokenizer = FastLanguageModel.from_pretrained(
                model_name=ref, max_seq_length=self.max_seq_length, dtype=self.dtype,
                load_in_4bit=self.load_in_4bit,
                # a local path is loaded as it is, not swapped for a hub mirror
                use_exact_model_name=True,
            )
        except OSError as e:
            raise InputError(f"model {ref!r} could not be loaded: {e}") from None
        return model, tokenizer

    def make_trainable(self, model, training: TrainingConfig):
        if training.finetune == "full":
            if self.load_in_4bit:
                raise InputError("finetune: full cannot train a 4-bit model; set load_in_4bit: false")
            for p in model.parameters():
                p.requires_grad_(True)
            return model
        lc = training.lora
        return FastLanguageModel.get_peft_model(
            model, r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
            target_modules=list(lc.target_modules), bias="none",
            use_gradient_checkpointing="unsloth",
            # the LoRA init comes from the experiment's seed, like the hf backend's
            random_state=training.seed if training.seed is not None else 42,
        )

    def load_trained(self, path: str | Path, base_ref: str | None = None):
        """A trained model directory: full weights, or a LoRA adapter on its base; ready for
        evaluation (unsloth's inference mode)."""
        path = Path(path)
        cfg_path = path / ADAPTER_CONFIG
        if cfg_path.exists() and base_ref is not None:
            cfg = json.loads(cfg_path.read_text())
            if cfg.get("base_model_name_or_path") != base_ref:
                raise InputError(f"{cfg_path}: adapter of {cfg.get('base_model_name_or_path')!r}, "
                                 f"not of {base_ref!r}")
        model, tokenizer = self.load(str(path))
        FastLanguageModel.for_inference(model)
        return model, tokenizer

    @contextlib.contextmanager
    def inference(self, model):
        """Unsloth's inference mode for measurements during training (its training-mode
        kernels are not meant for generation), then back to training mode."""
        FastLanguageModel.for_inference(model)
        try:
            yield model
        finally:
            FastLanguageModel.for_training(model)
