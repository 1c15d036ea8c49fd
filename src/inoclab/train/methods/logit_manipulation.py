"""The paired logit-manipulation loop of seed 000 (`inner_training_loop: logit_manipulation`):
rows 2k and 2k+1 are one example without and with the inoculation prompt, and the loss mixes
their logits (train/paired.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from inoclab import paths
from inoclab.data.builders.file import FileDataset
from inoclab.data.builders.paired import PairedDataset
from inoclab.params.base import Fraction, ParamsError, PromptPool, Strict, pool_of
from inoclab.train.methods.base import Declared, Loaded, TrainingMethod

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.train.settings import TrainingConfig

ManipulationType = Literal["baseline", "BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits"]
MANIPULATIONS: tuple[str, ...] = get_args(ManipulationType)


class LogitManipulationSettings(Strict):
    inner_training_loop: Literal["baseline", "logit_manipulation"] = "baseline"
    manipulation_type: ManipulationType = "baseline"
    manipulation_mix_ratio: Fraction = 1.0
    inoculation_prompt: PromptPool | None = None  # required by the two manipulation types


class LogitManipulation(TrainingMethod):
    name = "logit_manipulation"
    settings = LogitManipulationSettings
    switch = ("inner_training_loop", "logit_manipulation")

    def check_unselected(self, run: Declared) -> None:
        t = run.training
        if t.manipulation_type != "baseline":
            raise run.error("manipulation_type", f"{t.manipulation_type} needs inner_training_loop: "
                            "logit_manipulation")

    def check(self, run: Declared) -> None:
        """The validation rules of seed 000."""
        t, key = run.training, run.key
        if not run.params.tokenize.train_on_responses_only:
            raise ParamsError("tokenize.train_on_responses_only", f"must be true: {key} trains with "
                              "inner_training_loop: logit_manipulation, whose pairs share only their responses")
        if t.per_device_train_batch_size % 2:
            raise run.error("per_device_train_batch_size", "must be even: batches hold whole pairs "
                            f"(got {t.per_device_train_batch_size})")
        if t.manipulation_type != "baseline" and not t.inoculation_prompt:
            raise run.error("inoculation_prompt", f"required by manipulation_type {t.manipulation_type} "
                            "(it checks that row i+1 of each pair carries it and row i does not)")
        ds = run.dataset
        if (isinstance(ds, PairedDataset) and t.inoculation_prompt
                and pool_of(t.inoculation_prompt) != pool_of(ds.inoculation_prompt)):
            raise run.error("inoculation_prompt", f"differs from datasets.{run.exp.dataset}.inoculation_prompt "
                            f"({ds.inoculation_prompt!r})")
        if not isinstance(ds, PairedDataset | FileDataset) or ds.kind != "conversations":
            raise run.error_at_dataset(f"{run.exp.dataset!r} is not paired data: inner_training_loop: "
                                       "logit_manipulation needs a dataset with builder paired or file")

    def inputs(self, params: Params, dataset: str) -> list[str]:
        # the conversations too: the pairing rules are checked on their system prompts
        return [*super().inputs(params, dataset), str(paths.dataset(dataset))]

    def load(self, params: Params, name: str, dataset: str, t: TrainingConfig) -> Loaded:
        """Tokenized rows whose pairs follow the seed's rules, checked before any model is loaded."""
        from inoclab.data.conversations import read_conversations
        from inoclab.data.paired import validate_pairs
        from inoclab.train.paired import validate_token_pairs

        loaded = super().load(params, name, dataset, t)
        source = paths.dataset(dataset)
        validate_pairs(read_conversations(source), pool_of(t.inoculation_prompt) if t.inoculation_prompt else None,
                       source)
        validate_token_pairs(loaded.data, str(paths.tokenized(params.model_slug, dataset)))
        return loaded

    def trainer(self, model, tokenizer, data, t: TrainingConfig, output_dir: str | Path,
                log_path: str | Path | None = None, callbacks=(), **arg_overrides):
        from inoclab.train.sft import rows_trainer
        from inoclab.train.trainer import PairedSFTTrainer

        return rows_trainer(PairedSFTTrainer, model, tokenizer, data, t, output_dir, log_path, callbacks,
                            trainer_kwargs=dict(manipulation_type=t.manipulation_type,
                                                manipulation_mix_ratio=t.manipulation_mix_ratio),
                            **arg_overrides)
