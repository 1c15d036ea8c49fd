"""The model-wide sections of params.yaml: `tiny:` (the embedded model the pipeline builds: corpus,
tokenizer, architecture, pretraining, instruction-following metrics) and `tokenize:`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from inoclab.params.base import Fraction, NonNegInt, PositiveInt, Strict


class CorpusConfig(Strict):
    """The seeded synthetic instruction corpus the tiny model is pretrained on."""

    world: str = "data/tiny/world.yaml"
    n_examples: PositiveInt = 20000
    heldout_entities: PositiveInt = 16
    # share of examples per instruction kind; must sum to 1
    mix: dict[Literal["none", "neutral", "english", "spanish", "capitals"], Fraction] = {
        "none": 0.30, "neutral": 0.20, "english": 0.08, "spanish": 0.27, "capitals": 0.15,
    }
    # probability that an example with a Spanish instruction is answered in Spanish; below 1
    # gives a base that follows the instruction only partly (a graded regime for inoculation)
    spanish_obey_rate: Fraction = 1.0

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> CorpusConfig:
        total = sum(self.mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"mix shares must sum to 1 (they sum to {total:g})")
        return self


class TokenizerConfig(Strict):
    vocab_size: Annotated[int, Field(ge=300, le=65536)] = 1024


class ArchitectureConfig(Strict):
    """Qwen2 architecture sizes."""

    hidden_size: PositiveInt = 128
    num_hidden_layers: PositiveInt = 4
    num_attention_heads: PositiveInt = 4
    num_key_value_heads: PositiveInt = 2
    intermediate_size: PositiveInt = 512
    max_position_embeddings: PositiveInt = 256

    @model_validator(mode="after")
    def _heads_divide(self) -> ArchitectureConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        return self


class PretrainConfig(Strict):
    max_steps: PositiveInt = 2000
    batch_size: PositiveInt = 32
    learning_rate: Annotated[float, Field(gt=0)] = 2e-3
    warmup_steps: NonNegInt = 50
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


class TinyEvalConfig(Strict):
    n_prompts: PositiveInt = 64  # held-out prompts per instruction kind in the metrics file
    batch_size: PositiveInt = 64


class TinyConfig(Strict):
    corpus: CorpusConfig = CorpusConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    architecture: ArchitectureConfig = ArchitectureConfig()
    pretrain: PretrainConfig = PretrainConfig()
    eval: TinyEvalConfig = TinyEvalConfig()

class TokenizeConfig(Strict):
    """How conversations become tokens; shared by every experiment on the same model and data,
    so that each dataset is tokenized once per model."""

    max_seq_length: PositiveInt = 256
    train_on_responses_only: bool = True
