"""Preference training (`loss: dpo` or `loss: orpo`) through TRL's trainers, on preference pairs
(train/preference.py): TRL tokenizes the pairs itself, so the train stage reads the JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from inoclab import paths
from inoclab.params.base import Strict
from inoclab.train.methods.base import Declared, Loaded, TrainingMethod

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.train.settings import TrainingConfig


class PreferenceSettings(Strict):
    beta: Annotated[float, Field(gt=0)] = 0.1  # dpo: deviation from the reference; orpo: odds-ratio weight


class PreferenceMethod(TrainingMethod):
    settings = PreferenceSettings

    def __init__(self, loss: str):
        self.name = loss
        self.switch = ("loss", loss)

    def check(self, run: Declared) -> None:
        if run.dataset.kind != "preference":
            raise run.error("loss", f"loss {self.name} on dataset {run.exp.dataset!r}: needs a dataset with "
                            "builder preference")

    def inputs(self, params: Params, dataset: str) -> list[str]:
        return [str(paths.dataset(dataset))]

    def params_sections(self) -> list[str]:
        return ["tokenize"]  # max_seq_length: the pairs' length check and TRL's max_length

    def trainer_options(self, params: Params) -> dict:
        return {"max_seq_length": params.tokenize.max_seq_length}

    def load(self, params: Params, name: str, dataset: str, t: TrainingConfig) -> Loaded:
        from inoclab.data.preference import read_preference

        pairs = read_preference(paths.dataset(dataset))
        return Loaded(pairs, len(pairs))

    def check_model(self, params: Params, name: str, t: TrainingConfig, model, tokenizer, loaded: Loaded) -> None:
        from inoclab.train.preference import check_lengths

        check_lengths(tokenizer, loaded.data, paths.dataset(params.run(name).dataset), params.tokenize.max_seq_length)

    def trainer(self, model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                log_path: str | Path | None = None, callbacks=(), *, max_seq_length: int, **arg_overrides):
        from inoclab.train.preference import make_preference_trainer

        return make_preference_trainer(model, tokenizer, data, t, output_dir, max_seq_length, log_path, callbacks,
                                       **arg_overrides)

    def finish(self, model) -> None:
        from inoclab.train.preference import drop_reference_adapter

        drop_reference_adapter(model)
