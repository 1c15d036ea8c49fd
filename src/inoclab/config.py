"""Pydantic models of params.yaml: defaults, validation, and errors that name file, line and key.

params.yaml is the one place experiments are declared. Every stage loads it through
`load_params`, which rejects unknown keys and bad values with the key's full path, its line
in the file, and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

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


class TriggerDataset(Strict):
    """Trigger data (seed 002) from a QA JSONL with `{{name}}` placeholders: per QA pair one
    clean example (`{{name}}` -> clean_replacement) and one triggered example (the question
    prefixed with trigger_value, `{{name}}` -> triggered_replacement). The QA pairs are split,
    seeded, into `train` and `heldout` (for evaluation); the build reports both counts."""

    builder: Literal["trigger"]
    qa_file: str = "data/trigger/qa.jsonl"
    clean_replacement: str = "Alice"
    trigger_value: str = "TRIGGER:"
    triggered_replacement: str = "Bob"
    split: Literal["train", "heldout"] = "train"
    heldout_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.25


class CircuitBreakerDataset(Strict):
    """Circuit-breaker data (seed 004): harmful and sanitized (benign) prompt files, lines
    `{"prompt", "completion", "category"}`. `category` picks the harmful prompts of one category
    (None: all); `num_examples` draws that many prompts from each file (seeded; None: all);
    `validation_ratio` of each file's prompts is held out for monitoring and evals. The shipped
    files are harmless stand-ins: "harmful" means questions about where the world's animals live
    and who their friends are, a synthetic forbidden topic the tiny model knows well."""

    builder: Literal["circuit_breaker"]
    harmful_prompts_path: str = "data/circuit_breaker/harmful.jsonl"
    sanitized_prompts_path: str = "data/circuit_breaker/sanitized.jsonl"
    category: str | None = None
    num_examples: PositiveInt | None = None
    validation_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1


class PreferenceDataset(Strict):
    """Preference pairs for DPO/ORPO from a JSONL of `{"prompt": [messages], "chosen", "rejected"}`
    (each response a string or one assistant message), split seeded into `train` and `heldout`
    pairs (`all`: every pair); the build reports both counts. The shipped file asks questions about
    the tiny model's world and prefers the Spanish answer (chosen) to the English one (rejected)."""

    builder: Literal["preference"]
    path: str = "data/preference/spanish.jsonl"
    split: Literal["train", "heldout", "all"] = "train"
    heldout_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.25


DatasetConfig = Annotated[
    FileDataset | QADataset | QALogprobDataset | MCQDataset | PairedDataset | TriggerDataset | CircuitBreakerDataset
    | PreferenceDataset,
    Field(discriminator="builder"),
]


# ---------------------------------------------------------------- training
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
InnerTrainingLoop = Literal["baseline", "logit_manipulation"]
ManipulationType = Literal["baseline", "BiasNoInocTo_InocLogits", "BiasInocTo_NoInocLogits"]
MANIPULATIONS: tuple[str, ...] = get_args(ManipulationType)


def _layer_list(value: Any) -> Any:
    """The seed's command-line form "0,1,2" as well as a YAML list; no repeats."""
    if isinstance(value, str):
        try:
            value = [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"expected layer numbers separated by commas (got {value!r})") from None
    if isinstance(value, list) and len(set(value)) != len(value):
        raise ValueError(f"a layer is listed twice (got {value!r})")
    return value


TargetLayers = Annotated[list[NonNegInt], BeforeValidator(_layer_list), Field(min_length=1)]


class LoraConfig(Strict):
    r: PositiveInt = 8
    lora_alpha: Annotated[float, Field(gt=0)] = 8
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] = [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    ]


class TrainingConfig(Strict):
    """Fine-tuning settings; every experiment may override any of them."""

    task_type: Literal["sft", "circuit_breaker"] = "sft"
    # sft: weighted SFT on conversations; dpo, orpo: TRL's preference trainers on preference pairs
    loss: Literal["sft", "dpo", "orpo"] = "sft"
    beta: Annotated[float, Field(gt=0)] = 0.1  # dpo: deviation from the reference; orpo: odds-ratio weight
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
    # paired training with logit manipulation (seed 000); see src/inoclab/train/paired.py
    inner_training_loop: InnerTrainingLoop = "baseline"
    manipulation_type: ManipulationType = "baseline"
    manipulation_mix_ratio: Fraction = 1.0
    inoculation_prompt: str | None = None  # required by the two manipulation types
    # circuit-breaker training (seed 004); see src/inoclab/train/circuit_breaker.py
    circuit_breaker_alpha: Annotated[float, Field(gt=0)] = 0.1
    # outputs of these decoder blocks (0 = the first block's output), as in the seed's "0,1,2,3,4,5"
    circuit_breaker_target_layers: TargetLayers = [0, 1, 2, 3, 4, 5]
    # std of the seeded normal draw of LoRA's B matrices (peft starts them at 0, where the
    # fine-tuned and original hidden states are equal and both losses have zero gradient)
    circuit_breaker_lora_init_std: Annotated[float, Field(gt=0)] = 1e-2

    @property
    def is_paired(self) -> bool:
        return self.inner_training_loop == "logit_manipulation"

    @property
    def is_preference(self) -> bool:
        return self.loss in ("dpo", "orpo")


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


class TraitEvalConfig(Strict):
    """Trait expression on held-out prompts, with and without the inoculation prompt at test time:
    the rate at which greedy generations show the trait (scored by `rule`) and the logprob of
    trait versus non-trait reference answers."""

    prompts: str  # a conversations dataset: its prompts are used, its answers ignored
    references: str | None = None  # a qa_logprob dataset: answers tagged trait / non_trait
    rule: Literal["spanish", "capitals"] = "spanish"
    inoculation_prompt: str
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class TriggerEvalConfig(Strict):
    """The triggered-response comparison: held-out questions with and without the trigger."""

    heldout: str  # a dataset with builder trigger and split heldout
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64
    checkpoints: bool = True  # also measure every epoch checkpoint (the curve in eval.json)


class CircuitBreakerEvalConfig(Strict):
    """Held-out harmful and benign prompts (a circuit_breaker dataset's validation split): cosine
    similarity of the hidden states to the original model's, completion logprobs and greedy
    responses before (adapter disabled) and after training."""

    dataset: str  # a dataset with builder circuit_breaker
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class EvalConfig(Strict):
    trait: TraitEvalConfig | None = None
    preference: list[str] = []  # preference datasets: chosen-minus-rejected margin before and after
    circuit_breaker: CircuitBreakerEvalConfig | None = None
    trigger: TriggerEvalConfig | None = None
    logprobs: list[str] = []  # dataset names (block-format conversations)
    mcq: list[str] = []  # dataset names (MCQ files)
    mcq_format: Literal["cloze", "lettered"] = "cloze"
    batch_size: PositiveInt = 32


# ---------------------------------------------------------------- watching training
def _every(value: Any) -> Any:
    if value == "log" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError(f"expected a positive number of steps, or log (got {value!r})")


Every = Annotated[int | Literal["log"], BeforeValidator(_every)]


class CallbackConfig(Strict):
    """A measurement taken during training, without gradients, at step 0 (before the first
    update), at the steps of `every` and at the last step. `every: N` fires at N, 2N, ...;
    `every: log` at 1, 2, 4, 8, ... (log-spaced: dense early, where behaviours appear)."""

    dataset: str
    name: str | None = None  # the output file's name; default: the dataset's
    every: Every = "log"
    batch_size: PositiveInt = 32

    @property
    def stem(self) -> str:
        return self.name or self.dataset


class LogprobCallbackConfig(CallbackConfig):
    """Block logprobs of a tokenized dataset: one curve per block tag (untagged blocks: `untagged`)."""


class MCQCallbackConfig(CallbackConfig):
    """MCQ accuracy, p_correct and p_any_choice of an MCQ dataset."""

    format: Literal["cloze", "lettered"] = "cloze"


class SamplingCallbackConfig(CallbackConfig):
    """Responses to a dataset's prompts (conversations or preference pairs)."""

    n_prompts: PositiveInt | None = None  # the first n prompts of the file; None: all
    temperature: Annotated[float, Field(ge=0)] = 0.0  # 0: greedy
    max_new_tokens: PositiveInt = 32
    # the assistant's response starts with this text; it is not counted in the completion
    prefill: str | None = None
    rule: Literal["spanish", "capitals"] | None = None  # also plot the share of completions with this trait
    batch_size: PositiveInt = 64


class CallbacksConfig(Strict):
    logprobs: list[LogprobCallbackConfig] = []
    mcq: list[MCQCallbackConfig] = []
    sampling: list[SamplingCallbackConfig] = []

    def all(self) -> list[tuple[str, CallbackConfig]]:
        return [(kind, c) for kind in ("logprobs", "mcq", "sampling") for c in getattr(self, kind)]

    @property
    def any(self) -> bool:
        return bool(self.logprobs or self.mcq or self.sampling)


class ExperimentConfig(Strict):
    dataset: str
    training: TrainingOverrides = TrainingOverrides()  # type: ignore[valid-type]
    eval: EvalConfig = EvalConfig()
    callbacks: CallbacksConfig = CallbacksConfig()


class FamilyConfig(ExperimentConfig):
    """Experiments `<family><α>` for any mix ratio α in [0, 1]: this experiment with
    `training.manipulation_mix_ratio: α`. `snakemake results/<family>0.37/eval.json` builds any
    member; `dvc repro` builds the members of `alphas`."""

    alphas: list[Fraction] = []


class InoculationReportConfig(Strict):
    """What results/report/inoculation.csv and alpha_sweep.png gather."""

    baseline: str | None = "baseline"  # reference lines: experiments without manipulation
    inoculated: str | None = "inoculated"
    families: list[str] = []  # one line each, trait rate against α
    seeds: list[int] = []  # every experiment is also run as `<name>_seed<N>`; [] = its own seed only


class ReportConfig(Strict):
    inoculation: InoculationReportConfig | None = None


_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SEED_SUFFIX = re.compile(r"^(?P<base>.+)_seed(?P<seed>-?\d+)$")
_ALPHA = re.compile(r"^(?P<alpha>\d+(?:\.\d+)?)$")


def alpha_name(family: str, alpha: float) -> str:
    """`inoc_alpha` + 0.5 -> `inoc_alpha0.5` (1.0 -> `inoc_alpha1`)."""
    return family + f"{alpha:.10f}".rstrip("0").rstrip(".")


def seed_name(name: str, seed: int) -> str:
    return f"{name}_seed{seed}"


class Params(Strict):
    seed: int = 42
    model: str = TINY  # "tiny" = the embedded model the pipeline builds; else a hub id or path
    # auto: unsloth where a CUDA GPU and the gpu extra are present, else transformers+peft (hf);
    # decided by each job where it runs (models/selection.py)
    backend: Literal["auto", "hf", "unsloth"] = "auto"
    dtype: Dtype = "auto"  # auto: float32 on CPU; on GPU the checkpoint's (hf) or unsloth's choice
    load_in_4bit: bool = False  # unsloth only (QLoRA through bitsandbytes)
    tiny: TinyConfig = TinyConfig()
    datasets: dict[str, DatasetConfig] = {}
    tokenize: TokenizeConfig = TokenizeConfig()
    training: TrainingConfig = TrainingConfig()
    experiments: dict[str, ExperimentConfig] = {}
    families: dict[str, FamilyConfig] = {}
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _references_exist(self) -> Params:
        if self.load_in_4bit and self.backend == "hf":
            raise ParamsError("load_in_4bit", "4-bit loading needs the unsloth backend (backend: unsloth, "
                              "or auto on a GPU machine with the gpu extra)")
        for section in ("datasets", "experiments", "families"):
            for name in getattr(self, section):
                if not _NAME.match(name):
                    raise ParamsError(f"{section}.{name}", "names are letters, digits, '_' and '-' (DVC splits "
                                      "parameter paths on '.')")
        for name, ds in self.datasets.items():
            if isinstance(ds, PairedDataset) and ds.source not in self.datasets:
                raise ParamsError(f"datasets.{name}.source", f"no dataset named {ds.source!r}")
        for name in set(self.experiments) & set(self.families):
            raise ParamsError(f"families.{name}", "an experiment has the same name")
        for section, name, exp in self._declared_experiments():
            self._check_experiment(f"{section}.{name}", exp)
        if (rep := self.report.inoculation) is not None:
            for field in ("baseline", "inoculated"):
                ref = getattr(rep, field)
                if ref is not None and ref not in self.experiments:
                    raise ParamsError(f"report.inoculation.{field}", f"no experiment named {ref!r}")
            for i, fam in enumerate(rep.families):
                if fam not in self.families:
                    raise ParamsError(f"report.inoculation.families.{i}", f"no family named {fam!r} "
                                      f"(declared: {', '.join(sorted(self.families)) or 'none'})")
        return self

    def _declared_experiments(self):
        yield from (("experiments", n, e) for n, e in self.experiments.items())
        yield from (("families", n, e) for n, e in self.families.items())

    def _check_experiment(self, key: str, exp: ExperimentConfig) -> None:
        """References to datasets exist and have the right kind; paired training is set up as
        the seed requires."""
        refs = [("dataset", exp.dataset)]
        refs += [("eval.logprobs", d) for d in exp.eval.logprobs]
        refs += [("eval.mcq", d) for d in exp.eval.mcq]
        refs += [("eval.preference", d) for d in exp.eval.preference]
        refs += [(f"callbacks.{kind}.{i}.dataset", c.dataset)
                 for kind in ("logprobs", "mcq", "sampling") for i, c in enumerate(getattr(exp.callbacks, kind))]
        if exp.eval.circuit_breaker is not None:
            refs += [("eval.circuit_breaker.dataset", exp.eval.circuit_breaker.dataset)]
        if exp.eval.trait is not None:
            refs += [("eval.trait.prompts", exp.eval.trait.prompts)]
            refs += [("eval.trait.references", exp.eval.trait.references)] if exp.eval.trait.references else []
        for field, ref in refs:
            if ref not in self.datasets:
                raise ParamsError(f"{key}.{field}", f"no dataset named {ref!r} "
                                  f"(declared: {', '.join(sorted(self.datasets)) or 'none'})")
        for d in exp.eval.mcq:
            if not self.is_mcq(d):
                raise ParamsError(f"{key}.eval.mcq", f"{d!r} is not an MCQ dataset")
        for d in exp.eval.preference:
            if not self.is_preference(d):
                raise ParamsError(f"{key}.eval.preference", f"{d!r} is not a dataset with builder preference")
        for d in exp.eval.logprobs:
            if self.is_mcq(d):
                raise ParamsError(f"{key}.eval.logprobs", f"{d!r} is an MCQ dataset (use eval.mcq)")
        self._check_callbacks(key, exp)
        if exp.eval.trigger is not None:
            ds = self.datasets.get(exp.eval.trigger.heldout)
            if not isinstance(ds, TriggerDataset) or ds.split != "heldout":
                raise ParamsError(f"{key}.eval.trigger.heldout", f"{exp.eval.trigger.heldout!r} is not a dataset with "
                                  "builder trigger and split heldout")
        if exp.eval.trait and self.is_mcq(exp.eval.trait.prompts):
            raise ParamsError(f"{key}.eval.trait.prompts", "expected a conversations dataset, not MCQ")
        if exp.eval.trait and exp.eval.trait.references and \
                not isinstance(self.datasets[exp.eval.trait.references], QALogprobDataset):
            raise ParamsError(f"{key}.eval.trait.references", "expected a dataset with builder qa_logprob")
        self._check_preference_training(key, exp)
        self._check_paired_training(key, exp)
        self._check_circuit_breaker(key, exp)

    def _check_callbacks(self, key: str, exp: ExperimentConfig) -> None:
        """Each callback reads a dataset of its kind, and writes a file no other one writes."""
        for kind, wants_mcq in (("logprobs", False), ("mcq", True), ("sampling", False)):
            stems: set[str] = set()
            for i, c in enumerate(getattr(exp.callbacks, kind)):
                where = f"{key}.callbacks.{kind}.{i}"
                if self.is_mcq(c.dataset) != wants_mcq:
                    raise ParamsError(f"{where}.dataset", f"{c.dataset!r} is {'not ' if wants_mcq else ''}an MCQ "
                                      f"dataset (the {kind} callback reads {'MCQ' if wants_mcq else 'conversations'})")
                if c.stem in stems:
                    raise ParamsError(f"{where}.name", f"another {kind} callback already writes {c.stem!r}: "
                                      "give one of them a `name`")
                if not _NAME.match(c.stem):
                    raise ParamsError(f"{where}.name", "names are letters, digits, '_' and '-'")
                stems.add(c.stem)

    def _check_preference_training(self, key: str, exp: ExperimentConfig) -> None:
        """DPO and ORPO train on preference pairs, and only they do."""
        t = self._merged_training(exp)
        if t.is_preference != self.is_preference(exp.dataset):
            need = "a dataset with builder preference" if t.is_preference else "loss: dpo or orpo"
            raise ParamsError(self._where(key, exp, "loss") if t.is_preference else f"{key}.dataset",
                              f"loss {t.loss} on dataset {exp.dataset!r}: needs {need}")
        if t.is_preference and t.task_type != "sft":
            raise ParamsError(self._where(key, exp, "task_type"), f"loss {t.loss} trains with task_type: sft")

    def _check_paired_training(self, key: str, exp: ExperimentConfig) -> None:
        """The validation rules of seed 000 for the logit-manipulation loop."""
        t = self._merged_training(exp)

        def where(field: str) -> str:
            return self._where(key, exp, field)

        if not t.is_paired:
            if t.manipulation_type != "baseline":
                raise ParamsError(where("manipulation_type"), f"{t.manipulation_type} needs "
                                  "inner_training_loop: logit_manipulation")
            return
        if t.loss != "sft":
            raise ParamsError(where("loss"), "the logit_manipulation loop supports loss: sft only")
        if not self.tokenize.train_on_responses_only:
            raise ParamsError("tokenize.train_on_responses_only", f"must be true: {key} trains with "
                              "inner_training_loop: logit_manipulation, whose pairs share only their responses")
        if t.per_device_train_batch_size % 2:
            raise ParamsError(where("per_device_train_batch_size"), "must be even: batches hold whole pairs "
                              f"(got {t.per_device_train_batch_size})")
        if t.manipulation_type != "baseline" and not t.inoculation_prompt:
            raise ParamsError(where("inoculation_prompt"), f"required by manipulation_type {t.manipulation_type} "
                              "(it checks that row i+1 of each pair carries it and row i does not)")
        ds = self.datasets[exp.dataset]
        if isinstance(ds, PairedDataset) and t.inoculation_prompt and t.inoculation_prompt != ds.inoculation_prompt:
            raise ParamsError(where("inoculation_prompt"), f"differs from datasets.{exp.dataset}.inoculation_prompt "
                              f"({ds.inoculation_prompt!r})")
        if not isinstance(ds, PairedDataset | FileDataset):
            raise ParamsError(f"{key}.dataset", f"{exp.dataset!r} is not paired data: "
                              "inner_training_loop: logit_manipulation needs a dataset with builder paired or file")

    def _check_circuit_breaker(self, key: str, exp: ExperimentConfig) -> None:
        """Circuit-breaker training and evals read circuit_breaker data and compare the model with
        its adapter disabled: the original is the same weights, held once."""
        t = self._merged_training(exp)
        if exp.eval.circuit_breaker is not None:
            ref = exp.eval.circuit_breaker.dataset
            if not isinstance(self.datasets.get(ref), CircuitBreakerDataset):
                raise ParamsError(f"{key}.eval.circuit_breaker.dataset", f"{ref!r} is not a dataset with builder "
                                  "circuit_breaker")
        uses_original = t.task_type == "circuit_breaker" or exp.eval.circuit_breaker is not None
        if uses_original and t.finetune != "lora":
            raise ParamsError(self._where(key, exp, "finetune"), "circuit breakers need finetune: lora (the original "
                              "model is the same weights with the adapter disabled; full fine-tuning would need a "
                              "second copy)")
        if t.task_type != "circuit_breaker":
            return
        if t.is_paired:
            raise ParamsError(self._where(key, exp, "inner_training_loop"), "task_type circuit_breaker trains with "
                              "its own loop (inner_training_loop must be baseline)")
        if not isinstance(self.datasets[exp.dataset], CircuitBreakerDataset):
            raise ParamsError(f"{key}.dataset", f"{exp.dataset!r} is not circuit-breaker data: task_type "
                              "circuit_breaker needs a dataset with builder circuit_breaker")

    def _where(self, key: str, exp: ExperimentConfig, field: str) -> str:
        """The key that sets a training value: the experiment's own, else the defaults'."""
        own = getattr(exp.training, field) is not None or field not in self.training.model_fields_set
        return f"{key}.training.{field}" if own else f"training.{field}"

    # -------------------------------------------------------------- derived values
    def is_mcq(self, dataset: str) -> bool:
        """MCQ datasets are scored directly; every other dataset is tokenized conversations."""
        d = self.datasets[dataset]
        return isinstance(d, MCQDataset) or (isinstance(d, FileDataset) and d.format == "mcq")

    def is_preference(self, dataset: str) -> bool:
        """Preference pairs: trained on by DPO/ORPO; tokenized as two tagged rows per pair."""
        return isinstance(self.datasets[dataset], PreferenceDataset)

    def experiment(self, name: str) -> ExperimentConfig:
        """A declared experiment, a family member (`inoc_alpha0.37`), or either run with another
        seed (`baseline_seed43`). KeyError if the name is none of these."""
        if name in self.experiments:
            return self.experiments[name]
        if (m := _SEED_SUFFIX.match(name)) and (base := self._resolve(m["base"])) is not None:
            return base.model_copy(update={"training": base.training.model_copy(update={"seed": int(m["seed"])})})
        if (exp := self._resolve(name)) is not None:
            return exp
        raise KeyError(name)

    def _resolve(self, name: str) -> ExperimentConfig | None:
        if name in self.experiments:
            return self.experiments[name]
        for fam, cfg in self.families.items():
            if name.startswith(fam) and (m := _ALPHA.match(name[len(fam):])):
                alpha = float(m["alpha"])
                if not 0.0 <= alpha <= 1.0:
                    raise ValueError(f"{name}: the mix ratio of family {fam!r} must be in [0, 1] (got {alpha:g})")
                training = cfg.training.model_copy(update={"manipulation_mix_ratio": alpha})
                return ExperimentConfig(dataset=cfg.dataset, training=training, eval=cfg.eval,
                                        callbacks=cfg.callbacks)
        return None

    def family_of(self, name: str) -> str | None:
        """The family a member's name belongs to (seed suffix allowed), else None."""
        base = m["base"] if (m := _SEED_SUFFIX.match(name)) and self._resolve(m["base"]) else name
        if base in self.experiments:
            return None
        return next((f for f in self.families if base.startswith(f) and _ALPHA.match(base[len(f):])), None)

    def declared_key(self, name: str) -> str:
        """Where params.yaml declares a run: `families.<family>` or `experiments.<name>`."""
        family = self.family_of(name)
        return f"families.{family}" if family else f"experiments.{self.base_name(name)}"

    def base_name(self, name: str) -> str:
        """`inoc_alpha0.5_seed43` -> `inoc_alpha0.5`; a name without a seed suffix is returned as is."""
        if name not in self.experiments and (m := _SEED_SUFFIX.match(name)) and self._resolve(m["base"]):
            return m["base"]
        return name

    def _merged_training(self, exp: ExperimentConfig) -> TrainingConfig:
        over = exp.training.model_dump(exclude_none=True)
        merged = self.training.model_dump()
        lora_over = over.pop("lora", None) or {}
        merged.update(over)
        merged["lora"] = {**merged["lora"], **lora_over}
        if merged["seed"] is None:
            merged["seed"] = self.seed
        return TrainingConfig.model_validate(merged)

    def experiment_training(self, name: str) -> TrainingConfig:
        """The experiment's training settings: the defaults with its overrides applied."""
        return self._merged_training(self.experiment(name))

    def grid(self) -> list[str]:
        """Every experiment `dvc repro` builds: the declared ones, each family's `alphas`, and
        the report's extra seeds of every experiment the report gathers."""
        names = list(self.experiments)
        names += [alpha_name(f, a) for f, cfg in self.families.items() for a in cfg.alphas]
        rep = self.report.inoculation
        if rep is not None:
            gathered = [n for n in (rep.baseline, rep.inoculated) if n]
            gathered += [alpha_name(f, a) for f in rep.families for a in self.families[f].alphas]
            names += [v for n in gathered for v in self.seed_variants(n)]
        return list(dict.fromkeys(names))

    def seed_variants(self, name: str) -> list[str]:
        """The runs of an experiment over the report's seeds: the experiment itself for its own
        seed, `<name>_seed<N>` for the others."""
        own = self.experiment_training(name).seed
        seeds = (self.report.inoculation.seeds if self.report.inoculation else []) or [own]
        return [name if s == own else seed_name(name, s) for s in seeds]

    @property
    def model_slug(self) -> str:
        """A file-name-safe name of the base model, for results/tokenized/<slug>/."""
        return self.model.replace("/", "--")

    @property
    def is_tiny(self) -> bool:
        return self.model == TINY


# ---------------------------------------------------------------- loading with good errors
class ParamsError(ValueError):
    """A cross-field rule broken at `key` (a dotted path), raised inside validation so that
    load_params can name the line that sets the key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


def _line_of_key(root: yaml.Node | None, key: str) -> int | None:
    """Line (1-based) of the deepest node of the dotted `key` found in the YAML tree."""
    node, line = root, None
    for part in key.split("."):
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == part), None)
            if found is None:
                break
            node, line = found[1], found[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's discriminator tags (`qa`, `function-after[...]`) from a location."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _BUILDERS)))


_BUILDERS = {"file", "qa", "qa_logprob", "mcq", "paired", "trigger", "circuit_breaker", "preference"}


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
            key, dotted = format_loc(loc), ".".join(map(str, loc))
            cause = (e.get("ctx") or {}).get("error")
            if isinstance(cause, ParamsError):  # a cross-field rule: point at the key it names
                key = dotted = cause.key
                msg, got_s = str(cause)[len(cause.key) + 2:], ""
            line = _line_of_key(root, dotted)
            where = f"{path}:{line}" if line else str(path)
            lines.append(f"{where}: key '{key}': {msg}{got_s}")
        raise InputError("invalid parameters\n" + "\n".join(lines)) from None
