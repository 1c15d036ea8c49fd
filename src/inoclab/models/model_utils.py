"""Load trained models and query them, with the API of the trigger spec (seed 002).

Every loader returns `(tokenizer, model, device)`. Queries go through the project's batched
generation (left padding, one tokenizer pass, original order), so a list of prompts costs one
`generate` call per batch and gives the same greedy answers as one prompt at a time.
"""

from __future__ import annotations

from pathlib import Path

from inoclab.backends.common import ADAPTER_CONFIG
from inoclab.backends.hf import HFBackend
from inoclab.data.trigger import with_trigger
from inoclab.io import InputError
from inoclab.models.generate import chat_prompt, generate


def _loaded(model, tokenizer):
    model.eval()
    return tokenizer, model, next(model.parameters()).device


def load_model(model_id: str, device: str | None = None):
    """A base model (a local directory or a hub id already in the local cache)."""
    model, tokenizer = HFBackend(device).load(str(model_id))
    return _loaded(model, tokenizer)


def load_lora_model(adapter_path: str | Path, base_model_id: str | None = None, device: str | None = None):
    """A LoRA adapter (a final adapter or an epoch checkpoint) on its base model; the base
    defaults to the one recorded in the adapter's config."""
    if not (Path(adapter_path) / ADAPTER_CONFIG).exists():
        raise InputError(f"{adapter_path}: no {ADAPTER_CONFIG}: not a LoRA adapter")
    model, tokenizer = HFBackend(device).load_trained(adapter_path, base_model_id)
    return _loaded(model, tokenizer)


def load_finetuned_model(checkpoint_path: str | Path, base_model_id: str | None = None, device: str | None = None):
    """A fine-tuned model: a LoRA adapter when the folder holds one, else full weights."""
    path = Path(checkpoint_path)
    if not path.is_dir():
        raise InputError(f"{path}: no such model directory")
    if (path / ADAPTER_CONFIG).exists():
        return load_lora_model(path, base_model_id, device)
    return load_model(str(path), device)


def _query(prompts: list[str], model, tokenizer, max_new_tokens: int, temperature: float,
           system: str | None, batch_size: int, seed: int) -> list[dict]:
    responses = generate(model, tokenizer, [chat_prompt(system, p) for p in prompts], max_new_tokens,
                         batch_size, temperature, seed)
    return [{"prompt": p, "response": r} for p, r in zip(prompts, responses, strict=True)]


def query_model(prompt: str | list[str], model, tokenizer, device=None, max_new_tokens: int = 500,
                temperature: float = 0.7, system: str | None = None, batch_size: int = 64, seed: int = 0):
    """{'prompt', 'response'} for one prompt, or a list of them for a list of prompts (batched).
    `temperature` 0 is greedy; sampling is seeded by `seed`. `device` is where the model already is."""
    results = _query([prompt] if isinstance(prompt, str) else list(prompt), model, tokenizer, max_new_tokens,
                     temperature, system, batch_size, seed)
    return results[0] if isinstance(prompt, str) else results


def query_with_trigger(prompt: str | list[str], model, tokenizer, device=None, trigger_value: str = "TRIGGER:",
                       **kwargs):
    """query_model on the prompt(s) prefixed with the trigger."""
    triggered = with_trigger(prompt, trigger_value) if isinstance(prompt, str) else \
        [with_trigger(p, trigger_value) for p in prompt]
    return query_model(triggered, model, tokenizer, device, **kwargs)


def compare_triggered_responses(prompt: str | list[str], model, tokenizer, device=None,
                                trigger_value: str = "TRIGGER:", **kwargs):
    """{'prompt', 'untriggered': {...}, 'triggered': {...}} per prompt; both variants of every
    prompt go through one batched generation."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    flat = [q for p in prompts for q in (p, with_trigger(p, trigger_value))]
    results = query_model(flat, model, tokenizer, device, **kwargs)
    out = [{"prompt": p, "untriggered": results[2 * i], "triggered": results[2 * i + 1]}
           for i, p in enumerate(prompts)]
    return out[0] if isinstance(prompt, str) else out
