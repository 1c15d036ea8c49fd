"""What every training method is: the keys it owns under `training:`, when it is selected, the
rules those keys must follow (checked when params.yaml loads, naming the line), the files it
reads, and how it trains.

Methods import their implementation (torch, transformers, TRL) inside the functions that run
it, so that loading params.yaml stays light; the train stage's code deps follow those imports
for the experiment's own method only (workflow.stage_code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from inoclab import paths
from inoclab.params.base import ParamsError, Strict

if TYPE_CHECKING:
    from inoclab.config import ExperimentConfig, Params
    from inoclab.data.builders import DatasetConfig
    from inoclab.train.settings import TrainingConfig


class NoSettings(Strict):
    pass


@dataclass(frozen=True)
class Declared:
    """An experiment as params.yaml declares it, for a method's checks."""

    params: Params
    key: str  # experiments.<name> or families.<name>
    exp: ExperimentConfig
    training: TrainingConfig  # the defaults with the experiment's overrides
    where: Callable[[str], str]  # the key that sets a training field: the experiment's own, else the defaults'

    @property
    def dataset(self) -> DatasetConfig:
        return self.params.datasets[self.exp.dataset]

    def error(self, field: str, message: str) -> ParamsError:
        """An error at the key that sets training field `field`."""
        return ParamsError(self.where(field), message)

    def error_at_dataset(self, message: str) -> ParamsError:
        return ParamsError(f"{self.key}.dataset", message)


@dataclass
class Loaded:
    """What a method trains on, read and checked before any model is loaded."""

    data: Any
    examples: int


class TrainingMethod:
    name: ClassVar[str]
    settings: ClassVar[type[Strict]] = NoSettings  # its keys under `training:`
    switch: ClassVar[tuple[str, str] | None] = None  # the (key, value) that selects it; None: the default

    def selects(self, t: TrainingConfig) -> bool:
        return self.switch is not None and getattr(t, self.switch[0]) == self.switch[1]

    # ---------------------------------------------------------------- params.yaml
    def check(self, run: Declared) -> None:
        """Cross-field rules when this method is selected: raise ParamsError naming the key."""

    def check_unselected(self, run: Declared) -> None:
        """Rules on this method's keys when another method is selected."""

    # ---------------------------------------------------------------- the stage graph
    def inputs(self, params: Params, dataset: str) -> list[str]:
        """The files the train stage reads for the experiment's dataset."""
        return [str(paths.tokenized(params.model_slug, dataset))]

    def params_sections(self) -> list[str]:
        """Top-level params sections its training reads beyond `training` and the model's."""
        return []

    def trainer_options(self, params: Params) -> dict:
        """Keyword arguments of `trainer` that come from params outside `training`."""
        return {}

    # ---------------------------------------------------------------- training
    def load(self, params: Params, name: str, dataset: str, t: TrainingConfig) -> Loaded:
        """The training data, checked before the model is loaded (tokenized rows by default)."""
        from inoclab.tokenize import check_trainable, read_tokenized

        tokenized = paths.tokenized(params.model_slug, dataset)
        rows = read_tokenized(tokenized)
        check_trainable(rows, dataset, paths.dataset(dataset), tokenized)
        return Loaded(rows, len(rows))

    def check_model(self, params: Params, name: str, t: TrainingConfig, model, tokenizer, loaded: Loaded) -> None:
        """Checks that need the loaded base model or tokenizer, before it is made trainable."""

    def prepare(self, model, t: TrainingConfig) -> None:
        """Changes to the trainable model before training starts."""

    def trainer(self, model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                log_path: str | Path | None = None, callbacks=(), **arg_overrides):
        raise NotImplementedError

    def finish(self, model) -> None:
        """Clean-up after training, before the model is saved."""
