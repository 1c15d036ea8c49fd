"""Hidden states of a model and of its original (the same weights with the LoRA adapter
disabled): what circuit-breaker training pushes apart and its evals measure."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inoclab.io import InputError
from inoclab.models.collator import WeightedCollator


def token_cosine(ft: torch.Tensor, orig: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the hidden states [layers, batch, tokens, hidden] per token."""
    return (F.normalize(ft.float(), dim=-1) * F.normalize(orig.float(), dim=-1)).sum(-1)


def num_layers(model) -> int:
    return model.config.num_hidden_layers


def check_target_layers(model, layers: list[int], key: str) -> None:
    n = num_layers(model)
    if bad := [layer for layer in layers if layer >= n]:
        raise InputError(f"params.yaml: key '{key}': layer(s) {bad} out of range: the model has {n} decoder "
                         f"blocks (0..{n - 1})")


def hidden_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """[layers, batch, tokens, hidden]: the outputs of the given decoder blocks (block ℓ is
    hidden_states[ℓ + 1]; transformers applies the final norm to the last block's output).
    Runs the decoder only: no logits over the vocabulary."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                             use_cache=False)
    return torch.stack([out.hidden_states[layer + 1] for layer in layers])


def original(model):
    """The original model: the same module with its adapter disabled."""
    if not hasattr(model, "disable_adapter"):
        raise InputError("circuit breakers need a LoRA model (finetune: lora): the original is the model with "
                         "its adapter disabled")
    return model.disable_adapter()


@torch.no_grad()
def cosine_to_original(model, rows: list[dict], pad_token_id: int, layers: list[int],
                       batch_size: int = 32) -> torch.Tensor:
    """[rows, layers]: per row and target layer, the mean over its tokens of the cosine of the
    model's hidden states with the original's."""
    collate = WeightedCollator(pad_token_id)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(rows), batch_size):
        batch = collate(rows[s:s + batch_size])
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        ft = hidden_states(model, ids, mask, layers)
        with original(model):
            orig = hidden_states(model, ids, mask, layers)
        cos = token_cosine(ft, orig) * mask
        out.append((cos.sum(-1) / mask.sum(-1)).T.cpu())
    model.train(was_training)
    return torch.cat(out)
