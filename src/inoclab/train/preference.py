"""Preference training (DPO, ORPO) through TRL's trainers, on the same backends and LoRA.

TRL applies the chat template and tokenizes the pairs itself. Before it does, every pair is
measured with the project's tokenizer path: a pair longer than `tokenize.max_seq_length` is an
error naming its line, because TRL would truncate it (or drop it when the prompt alone fills
the length) without saying so.

The reference model of DPO is the base model: with a LoRA model TRL keeps a frozen copy of the
freshly initialised adapter (named `ref`), which equals the base model while LoRA's B is zero;
it is removed before saving, so the saved adapter is the trained one only. ORPO needs no
reference. `beta` is DPO's β (how far the policy may move from the reference) and ORPO's λ
(the weight of the odds-ratio term). Both disable dropout, TRL's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from datasets import Dataset

from inoclab.data.conversations import normalize
from inoclab.data.preference import PreferencePair, pair_conversations
from inoclab.io import InputError
from inoclab.tokenize import tokenize_conversations
from inoclab.train.sft import half_precision, trainer_callbacks, training_kwargs

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig

REFERENCE_ADAPTER = "ref"


def check_lengths(tokenizer, pairs: list[tuple[int, PreferencePair]], path: str | Path, max_seq_length: int) -> None:
    """Every pair's prompt + response fits `max_seq_length`, or one error listing the lines."""
    records = pair_conversations(pairs)
    _, stats = tokenize_conversations(tokenizer, [normalize(c, True) for _, c in records], max_seq_length,
                                      [str(line) for line, _ in records])
    if stats.truncated_examples:
        lines = sorted(set(stats.truncated_lines), key=int)
        raise InputError(f"{path}: {len(lines)} preference pair(s) longer than tokenize.max_seq_length="
                         f"{max_seq_length} tokens (prompt + response); lines: {', '.join(lines[:10])}. "
                         "Raise tokenize.max_seq_length or shorten them: DPO/ORPO would cut or drop them.")


def make_preference_trainer(model, tokenizer, pairs: list[tuple[int, PreferencePair]], cfg: TrainingConfig,
                            output_dir: str | Path, max_seq_length: int, log_path: str | Path | None = None,
                            callbacks=(), **arg_overrides):
    """TRL's DPOTrainer or ORPOTrainer for `cfg.loss`, with the experiment's Trainer settings."""
    if not pairs:
        raise InputError("no preference pairs")
    kwargs = training_kwargs(cfg, output_dir, **half_precision(model), **arg_overrides)
    kwargs.update(beta=cfg.beta, max_length=max_seq_length)
    data = Dataset.from_list([p.trl_row() for _, p in pairs])
    common = dict(model=model, train_dataset=data, processing_class=tokenizer,
                  callbacks=trainer_callbacks(callbacks, log_path))
    if cfg.loss == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer(**common, args=DPOConfig(**kwargs))
    if cfg.loss == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOTrainer(**common, args=ORPOConfig(**kwargs))
    raise ValueError(f"not a preference loss: {cfg.loss}")


def drop_reference_adapter(model) -> None:
    """Remove DPO's frozen reference adapter, so that only the trained adapter is saved."""
    if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
        model.delete_adapter(REFERENCE_ADAPTER)
