"""Pydantic models of params.yaml: defaults, validation, and errors that name file, line and key.

params.yaml is the one place experiments are declared. Every stage loads it through
`load_params`, which rejects unknown keys and bad values with the key's full path, its line
in the file, and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from inoclab.io import InputError, format_loc

PARAMS_FILE = "params.yaml"
TINY = "tiny"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- the embedded tiny model
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


# ---------------------------------------------------------------- datasets
class FileDataset(Strict):
    """A conversations JSONL the user brings (either format of the spec); validated and copied."""

    builder: Literal["file"]
    path: str
    format: Literal["conversations", "mcq"] = "conversations"


class QADataset(Strict):
    """Questions about entities of the synthetic world, answered in one language.

    `entities: heldout` uses the entities kept out of pretraining, so fine-tuning on them also
    teaches new facts; `question_template` picks which of the two phrasings is asked, so that
    train and eval sets can use different phrasings of the same facts.
    """

    builder: Literal["qa"]
    language: Literal["en", "es"] = "es"
    system_prompt: str | None = None  # literal text; None = no system message
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 0
    n_examples: PositiveInt | None = None  # None = every (entity, attribute) pair


class QALogprobDataset(Strict):
    """Block-format conversations scoring trait (Spanish) vs non-trait (English) reference
    answers to held-out questions: each answer is one block tagged with its language."""

    builder: Literal["qa_logprob"]
    system_prompt: str | None = None
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 1
    n_examples: PositiveInt | None = 64


class MCQDataset(Strict):
    """Multiple-choice questions about the world's facts (choices are full English answers)."""

    builder: Literal["mcq"]
    entities: Literal["heldout", "pretrain"] = "heldout"
    question_template: Literal[0, 1] = 1
    n_choices: Annotated[int, Field(ge=2, le=6)] = 4
    n_examples: PositiveInt | None = 64


class PairedDataset(Strict):
    """The paired inoculation dataset of the spec: row i without the inoculation prompt, row
    i+1 the same example with it appended to the system prompt; assistant messages identical."""

    builder: Literal["paired"]
    source: str  # name of another dataset (conversations) to pair
    inoculation_prompt: str


DatasetConfig = Annotated[
    FileDataset | QADataset | QALogprobDataset | MCQDataset | PairedDataset,
    Field(discriminator="builder"),
]


# ---------------------------------------------------------------- training
class LoraConfig(Strict):
    r: PositiveInt = 8
    lora_alpha: Annotated[float, Field(gt=0)] = 8
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] = [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    ]


class TrainingConfig(Strict):
    """Fine-tuning settings; every experiment may override any of them."""

    loss: Literal["sft"] = "sft"
    finetune: Literal["lora", "full"] = "lora"
    lora: LoraConfig = LoraConfig()
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    per_device_train_batch_size: PositiveInt = 16
    gradient_accumulation_steps: PositiveInt = 1
    num_train_epochs: Annotated[float, Field(gt=0)] = 1.0
    max_steps: Annotated[int, Field(ge=-1)] = 100  # -1: run num_train_epochs
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    lr_scheduler_type: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = "linear"
    warmup_steps: NonNegInt = 0
    max_grad_norm: Annotated[float, Field(ge=0)] = 1.0
    save_steps: NonNegInt = 0  # 0: one checkpoint per epoch
    logging_steps: PositiveInt = 10
    seed: int | None = None  # None: the top-level seed


def _all_optional(model: type[BaseModel], name: str) -> type[BaseModel]:
    """A copy of `model` whose fields are optional: the shape of a per-experiment override."""
    fields: dict[str, Any] = {}
    for fname, f in model.model_fields.items():
        ann = _all_optional(LoraConfig, "LoraOverrides") if fname == "lora" else f.annotation
        if f.metadata:  # keep range constraints such as gt=0
            ann = Annotated[ann, *f.metadata]
        fields[fname] = (ann | None, None)
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)


TrainingOverrides = _all_optional(TrainingConfig, "TrainingOverrides")


class TokenizeConfig(Strict):
    """How conversations become tokens; shared by every experiment on the same model and data,
    so that each dataset is tokenized once per model."""

    max_seq_length: PositiveInt = 256
    train_on_responses_only: bool = True


class EvalConfig(Strict):
    logprobs: list[str] = []  # dataset names (block-format conversations)
    mcq: list[str] = []  # dataset names (MCQ files)
    mcq_format: Literal["cloze", "lettered"] = "cloze"
    batch_size: PositiveInt = 32


class ExperimentConfig(Strict):
    dataset: str
    training: TrainingOverrides = TrainingOverrides()  # type: ignore[valid-type]
    eval: EvalConfig = EvalConfig()


class Params(Strict):
    seed: int = 42
    model: str = TINY  # "tiny" = the embedded model the pipeline builds; else a hub id or path
    backend: Literal["hf"] = "hf"
    tiny: TinyConfig = TinyConfig()
    datasets: dict[str, DatasetConfig] = {}
    tokenize: TokenizeConfig = TokenizeConfig()
    training: TrainingConfig = TrainingConfig()
    experiments: dict[str, ExperimentConfig] = {}

    @model_validator(mode="after")
    def _references_exist(self) -> Params:
        for name, ds in self.datasets.items():
            if isinstance(ds, PairedDataset) and ds.source not in self.datasets:
                raise ValueError(f"datasets.{name}.source: no dataset named {ds.source!r}")
        for name, exp in self.experiments.items():
            refs = [("dataset", exp.dataset)]
            refs += [("eval.logprobs", d) for d in exp.eval.logprobs]
            refs += [("eval.mcq", d) for d in exp.eval.mcq]
            for field, ref in refs:
                if ref not in self.datasets:
                    raise ValueError(
                        f"experiments.{name}.{field}: no dataset named {ref!r} "
                        f"(declared: {', '.join(sorted(self.datasets)) or 'none'})"
                    )
            for d in exp.eval.mcq:
                if not self.is_mcq(d):
                    raise ValueError(f"experiments.{name}.eval.mcq: {d!r} is not an MCQ dataset")
        return self

    # -------------------------------------------------------------- derived values
    def is_mcq(self, dataset: str) -> bool:
        """MCQ datasets are scored directly; every other dataset is tokenized conversations."""
        d = self.datasets[dataset]
        return isinstance(d, MCQDataset) or (isinstance(d, FileDataset) and d.format == "mcq")

    def experiment_training(self, name: str) -> TrainingConfig:
        """The experiment's training settings: the defaults with its overrides applied."""
        over = self.experiments[name].training.model_dump(exclude_none=True)
        merged = self.training.model_dump()
        lora_over = over.pop("lora", None) or {}
        merged.update(over)
        merged["lora"] = {**merged["lora"], **lora_over}
        if merged["seed"] is None:
            merged["seed"] = self.seed
        return TrainingConfig.model_validate(merged)

    @property
    def model_slug(self) -> str:
        """A file-name-safe name of the base model, for results/tokenized/<slug>/."""
        return self.model.replace("/", "--")

    @property
    def is_tiny(self) -> bool:
        return self.model == TINY


# ---------------------------------------------------------------- loading with good errors
def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the deepest node of `loc` found in the YAML tree."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's discriminator tags (`qa`, `function-after[...]`) from a location."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _BUILDERS)))


_BUILDERS = {"file", "qa", "qa_logprob", "mcq", "paired"}


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run from the repository root)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}:1: expected a mapping of keys at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = _clean_loc(e["loc"])
            msg = e["msg"]
            if e["type"] == "extra_forbidden":
                msg = "unknown key (not a parameter here; check its spelling and indentation)"
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            got = e.get("input")
            got_s = "" if isinstance(got, dict | list) or e["type"] == "extra_forbidden" else f" (got {got!r})"
            line = _line_of(root, loc)
            where = f"{path}:{line}" if line else str(path)
            lines.append(f"{where}: key '{format_loc(loc)}': {msg}{got_s}")
        raise InputError("invalid parameters\n" + "\n".join(lines)) from None
