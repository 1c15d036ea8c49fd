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

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from inoclab.backends.common import canonicalize_saved_files
from inoclab.io import InputError, atomic_path
from inoclab.params.models import EMBEDDED, PackagedGGUF


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
