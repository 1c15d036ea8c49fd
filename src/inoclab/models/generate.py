"""Batched generation from chat prompts: left padding, length-sorted batches, original order.

Left padding is what decoder-only generation needs (right padding would put pad tokens between
the prompt and the new tokens); the tokenizer's own side is restored afterwards.
"""

from __future__ import annotations

import contextlib

import torch
from tqdm.auto import tqdm


@contextlib.contextmanager
def padding_side(tokenizer, side: str):
    old = tokenizer.padding_side
    tokenizer.padding_side = side
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side = old


def chat_prompt(system: str | None, user: str) -> list[dict]:
    return ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user}
    ]


@torch.no_grad()
def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 32,
             batch_size: int = 64, temperature: float = 0.0, seed: int = 0,
             progress: bool = False, prefill: str | None = None) -> list[str]:
    """Responses to chat prompts (lists of messages); greedy when temperature is 0. With a
    `prefill`, every response starts with that text, which is not part of the returned
    completion (the completion continues it: prefill + completion is the response)."""
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) + (prefill or "")
             for p in prompts]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]  # one pass; batches are padded
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    out: list[str | None] = [None] * len(texts)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sampling = dict(do_sample=True, temperature=temperature) if temperature > 0 else dict(do_sample=False)
    if temperature > 0:
        torch.manual_seed(seed)  # generate() samples from the global generator
    with padding_side(tokenizer, "left"):
        for s in tqdm(range(0, len(order), batch_size), disable=not progress, desc="generate"):
            idx = order[s:s + batch_size]
            enc = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt").to(device)
            seq = model.generate(
                **enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, **sampling,
            )
            new = seq[:, enc["input_ids"].shape[1]:]
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                out[i] = text.rstrip() if prefill else text.strip()
    model.train(was_training)
    return out  # type: ignore[return-value]
