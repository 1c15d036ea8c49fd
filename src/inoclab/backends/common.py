"""What both backends share: the LoRA settings they apply, the model-loading dtype, model
references, and making saved files byte-reproducible."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

from pydantic import Field

from inoclab.io import InputError
from inoclab.params.base import PositiveInt, Strict

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from inoclab.train.settings import TrainingConfig

ADAPTER_CONFIG = "adapter_config.json"
Dtype = Literal["auto", "float32", "bfloat16", "float16"]


class LoraConfig(Strict):
    r: PositiveInt = 8
    lora_alpha: Annotated[float, Field(gt=0)] = 8
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] = [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    ]


# circuit breakers compare the model with its original: the same weights with the adapter disabled
NEEDS_LORA = ("circuit breakers need finetune: lora (the original model is the same weights with the adapter "
              "disabled; full fine-tuning would need a second copy)")


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
