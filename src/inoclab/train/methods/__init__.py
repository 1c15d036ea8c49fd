"""The training methods: the keys of `training:` select one (`task_type`, `loss`,
`inner_training_loop`, as the seeds name them), and it owns its keys, their rules, what it reads
and how it trains. A new method is one module (a TrainingMethod) and one line in METHODS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoclab.params.base import ParamsError
from inoclab.train.methods.base import Declared, Loaded, TrainingMethod
from inoclab.train.methods.circuit_breaker import CircuitBreaker
from inoclab.train.methods.logit_manipulation import LogitManipulation
from inoclab.train.methods.preference import PreferenceMethod
from inoclab.train.methods.sft import WeightedSFT

if TYPE_CHECKING:
    from inoclab.train.settings import TrainingConfig

__all__ = ["METHODS", "METHOD_SETTINGS", "Declared", "Loaded", "TrainingMethod", "check_training", "make_trainer",
           "method_for"]

DEFAULT = WeightedSFT()
METHODS: tuple[TrainingMethod, ...] = (
    DEFAULT, LogitManipulation(), CircuitBreaker(), PreferenceMethod("dpo"), PreferenceMethod("orpo"),
)
# the keys each method owns, merged into the one flat `training:` section (train/settings.py)
METHOD_SETTINGS = tuple(dict.fromkeys(m.settings for m in METHODS))


def _selected(t: TrainingConfig) -> list[TrainingMethod]:
    return [m for m in METHODS if m.selects(t)]


def method_for(t: TrainingConfig) -> TrainingMethod:
    """The method the settings select (weighted SFT when no switch is set)."""
    picked = _selected(t)
    if len(picked) > 1:
        raise ValueError(f"{' and '.join(f'{m.switch[0]}: {m.switch[1]}' for m in picked)} select more than one "
                         "training method")
    return picked[0] if picked else DEFAULT


def check_training(run: Declared) -> None:
    """One method selected, its rules hold, and no other method's keys ask for it."""
    picked = _selected(run.training)
    if len(picked) > 1:
        first, second = picked[0], picked[1]
        raise ParamsError(run.where(second.switch[0]), f"{second.switch[0]}: {second.switch[1]} and "
                          f"{first.switch[0]}: {first.switch[1]} select two training methods ({second.name} and "
                          f"{first.name}); set one of them")
    method = picked[0] if picked else DEFAULT
    for m in METHODS:
        if m is not method:
            m.check_unselected(run)
    method.check(run)


def make_trainer(model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                 log_path: str | Path | None = None, callbacks=(), **options):
    """The Trainer of the method `t` selects: tokenized rows for the SFT methods and circuit
    breakers, preference pairs for DPO and ORPO."""
    return method_for(t).trainer(model, tokenizer, data, t, output_dir, log_path, callbacks, **options)
