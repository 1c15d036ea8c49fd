"""A model's yes/no answer to chat questions, as a probability: the next-token distribution after
the generation prompt, read at the last position only (models/head.py)."""

from __future__ import annotations

import numpy as np
import torch

from inoclab.models.generate import padding_side
from inoclab.models.head import logits_at


@torch.no_grad()
def yes_no_probability(model, tokenizer, questions: list[list[dict]], yes_id: int, no_id: int,
                       batch_size: int = 32) -> np.ndarray:
    """P(yes) / (P(yes) + P(no)) of the first answer token, one per question (chat messages).
    Right padding, so every row's positions are those of its unpadded forward."""
    texts = [tokenizer.apply_chat_template(q, tokenize=False, add_generation_prompt=True) for q in questions]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.empty(len(ids))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with padding_side(tokenizer, "right"):
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
            last = torch.zeros(enc["input_ids"].shape, dtype=torch.bool)
            last[torch.arange(len(idx)), enc["attention_mask"].sum(1) - 1] = True
            logits = logits_at(model, enc["input_ids"].to(device), enc["attention_mask"].to(device), last.to(device))
            pair = logits[:, [yes_id, no_id]].double().cpu()
            out[idx] = torch.softmax(pair, dim=1)[:, 0].numpy()  # the rest of the vocabulary cancels
    model.train(was_training)
    return out
