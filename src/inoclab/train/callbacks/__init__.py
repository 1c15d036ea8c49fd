"""The callbacks an experiment's `callbacks:` section declares, measured during training. Each
kind is one module (a CallbackConfig: its keys, the datasets it reads, its files and plots; and
the Callback that measures) and one line in CALLBACKS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import create_model

from inoclab.params.base import Strict
from inoclab.train.callbacks.base import Callback, CallbackConfig, callback_steps
from inoclab.train.callbacks.logprobs import LogprobCallbackConfig
from inoclab.train.callbacks.mcq import MCQCallbackConfig
from inoclab.train.callbacks.pressure import PressureCallbackConfig
from inoclab.train.callbacks.sampling import SamplingCallbackConfig

if TYPE_CHECKING:
    from inoclab.config import Params

__all__ = ["CALLBACKS", "Callback", "CallbackConfig", "CallbacksConfig", "callback_steps", "callbacks_for"]

CALLBACKS: tuple[type[CallbackConfig], ...] = (LogprobCallbackConfig, MCQCallbackConfig, SamplingCallbackConfig,
                                               PressureCallbackConfig)


class _Callbacks(Strict):
    def all(self) -> list[CallbackConfig]:
        """Every declared callback, kind by kind in registry order."""
        return [c for kind in type(self).model_fields for c in getattr(self, kind)]


# an experiment's `callbacks:` section: a list per kind
CallbacksConfig = create_model("CallbacksConfig", __base__=_Callbacks, **{c.kind: (list[c], []) for c in CALLBACKS})


def callbacks_for(params: Params, name: str) -> list[Callback]:
    """The callbacks of an experiment, with their data loaded (before any model is)."""
    return [c.load(params, name) for c in params.experiment(name).callbacks.all()]
