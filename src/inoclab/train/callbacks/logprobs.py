"""`callbacks.logprobs`: block logprobs of a tokenized dataset, one curve per block tag
(untagged blocks: `untagged`): `logprobs.<name>.csv` holds per tag the mean Σ logprob of its
blocks (`<tag>`) and the mean per-token logprob (`<tag>_per_token`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.train.callbacks.base import Callback, CallbackConfig

if TYPE_CHECKING:
    from inoclab.config import Params


class LogprobCallbackConfig(CallbackConfig):
    kind = "logprobs"
    reads = ("conversations", "preference")

    def inputs(self, params: Params) -> list[str]:
        return [str(paths.tokenized(params.model_slug, self.dataset))]

    def plot(self, params: Params, exp: str) -> dict:
        return {"x": "step", "y": params.datasets[self.dataset].tags(),
                "y_label": "mean block logprob (sum over tokens)", "title": f"{exp}: logprobs of {self.stem} per tag"}

    def load(self, params: Params, name: str) -> LogprobCallback:
        from inoclab.tokenize import read_tokenized

        return LogprobCallback(self, read_tokenized(paths.tokenized(params.model_slug, self.dataset)))


class LogprobCallback(Callback):
    def __init__(self, cfg: LogprobCallbackConfig, rows: list[dict]):
        super().__init__(cfg)
        self.data = rows

    def measure(self, model, tokenizer, step):
        from inoclab.eval.logprobs import block_logprobs, summarize_blocks, token_logprobs

        lps = token_logprobs(model, self.data, tokenizer.pad_token_id, self.cfg.batch_size)
        tags = summarize_blocks(block_logprobs(self.data, lps))
        row = {tag: s["logprob_sum"] for tag, s in tags.items()}
        row.update({f"{tag}_per_token": s["logprob_mean"] for tag, s in tags.items()})
        return row
