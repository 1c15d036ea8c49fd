"""`callbacks.pressure`: the optimisation pressure on a fixed set of pairs during training
(train/pressure.py): each member's response logprob and loss, the uplift, KL(no ‖ inoc), the
gradient norms of each member's loss, and of the run's own mixed-logits loss in the paired loop.

Declared with the same paired data and `every` on the baseline, the inoculated run and the α
families, it measures every run on the same pairs at the same steps, so their curves compare.
Unlike the other callbacks it takes gradients, so it runs outside the no-grad inference mode
(callbacks/runner.py); it leaves the weights and the training's random state as they were."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import model_validator

from inoclab import paths
from inoclab.data.builders.file import FileDataset
from inoclab.data.builders.paired import PairedDataset
from inoclab.params.base import ParamsError, PositiveInt
from inoclab.train.callbacks.base import Callback, CallbackConfig

if TYPE_CHECKING:
    from inoclab.config import Params

MEASURES = ("logprob_no", "logprob_inoc", "uplift", "uplift_per_token", "kl_no_inoc", "loss_no", "loss_inoc",
            "grad_norm_no", "grad_norm_inoc")
TRAINED = "grad_norm_trained"  # the paired loop's runs only


class PressureCallbackConfig(CallbackConfig):
    kind = "pressure"
    needs_grad: ClassVar[bool] = True

    n_pairs: PositiveInt = 16  # the first n pairs of the dataset (rows 2k, 2k+1)
    batch_size: PositiveInt = 16  # rows per forward pass: whole pairs

    @model_validator(mode="after")
    def _whole_pairs(self) -> PressureCallbackConfig:
        if self.batch_size % 2:
            raise ValueError(f"batch_size must be even: batches hold whole pairs (got {self.batch_size})")
        return self

    def check(self, params: Params, where: str) -> None:
        ds = params.datasets[self.dataset]
        if not isinstance(ds, PairedDataset | FileDataset):
            raise ParamsError(f"{where}.dataset", f"{self.dataset!r} is not paired data (rows 2k and 2k+1 without "
                              "and with the inoculation prompt): the pressure callback needs a dataset with builder "
                              "paired or file")

    def inputs(self, params: Params) -> list[str]:
        return [str(paths.tokenized(params.model_slug, self.dataset))]

    def plot(self, params: Params, exp: str) -> dict:
        return {"x": "step", "y": ["grad_norm_no", "grad_norm_inoc", "kl_no_inoc", "uplift_per_token"],
                "title": f"{exp}: optimisation pressure on the pairs of {self.stem}"}

    def load(self, params: Params, name: str) -> PressureCallback:
        from inoclab.io import InputError
        from inoclab.tokenize import read_tokenized
        from inoclab.train.methods import method_for
        from inoclab.train.methods.logit_manipulation import LogitManipulation
        from inoclab.train.paired import validate_token_pairs

        tokenized = paths.tokenized(params.model_slug, self.dataset)
        rows = read_tokenized(tokenized)
        if len(rows) < 2 * self.n_pairs:
            raise InputError(f"{tokenized}: {len(rows) // 2} pairs, fewer than the pressure callback's n_pairs "
                             f"({self.n_pairs}) of {params.declared_key(name)}")
        probe = rows[:2 * self.n_pairs]
        validate_token_pairs(probe, str(tokenized))
        t = params.experiment_training(name)
        paired = isinstance(method_for(t), LogitManipulation)
        return PressureCallback(self, probe, (t.manipulation_type, t.manipulation_mix_ratio) if paired else None)


class PressureCallback(Callback):
    def __init__(self, cfg: PressureCallbackConfig, rows: list[dict], trained_as: tuple[str, float] | None):
        super().__init__(cfg)
        self.data, self.trained_as = rows, trained_as
        self._batches: list | None = None

    def measure(self, model, tokenizer, step):
        from inoclab.train.pressure import measure_pressure, pair_batches

        if self._batches is None:  # on the model's device, once
            device = next(model.parameters()).device
            self._batches = pair_batches(self.data, tokenizer.pad_token_id, self.cfg.batch_size, device)
        return measure_pressure(model, self._batches, self.trained_as)
