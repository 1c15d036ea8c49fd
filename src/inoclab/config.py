"""Pydantic models of params.yaml: defaults, validation, and errors that name file, line and key.

params.yaml is the one place experiments are declared. Every stage loads it through
`load_params`, which rejects unknown keys and bad values with the key's full path, its line
in the file, and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, create_model, model_validator

from inoclab import paths
from inoclab.backends.common import Dtype, LoraConfig
from inoclab.data.builders import BUILDER_NAMES, DatasetConfig
from inoclab.eval.kinds import EvalConfig
from inoclab.io import InputError
from inoclab.measures import MEASURE_KINDS
from inoclab.params.base import NAME as _NAME
from inoclab.params.base import Fraction, ParamsError, Strict
from inoclab.params.loading import key_error, load_yaml_model
from inoclab.params.models import EMBEDDED, model_slug
from inoclab.params.naming import ALPHA as _ALPHA
from inoclab.params.naming import SEED_SUFFIX as _SEED_SUFFIX
from inoclab.params.naming import alpha_name, seed_name
from inoclab.params.tiny import TinyConfig, TokenizeConfig
from inoclab.stats import BootstrapConfig
from inoclab.train.callbacks import CallbacksConfig
from inoclab.train.methods import Declared, check_training
from inoclab.train.settings import TrainingConfig

PARAMS_FILE = "params.yaml"
TINY = "tiny"


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




class ExperimentConfig(Strict):
    dataset: str
    model: str | None = None  # the base model of this run (a family's: of every member); default: `model`
    training: TrainingOverrides = TrainingOverrides()  # type: ignore[valid-type]
    eval: EvalConfig = EvalConfig()
    callbacks: CallbacksConfig = CallbacksConfig()  # type: ignore[valid-type]

    def measures(self) -> list:
        """The trait measures its evals and callbacks score responses with."""
        return [m for k in self.eval.kinds() for m in k.components(self.eval)] + [
            m for c in self.callbacks.all() for m in c.components()]


class FamilyConfig(ExperimentConfig):
    """Experiments `<family><α>` for any mix ratio α in [0, 1]: this experiment with
    `training.manipulation_mix_ratio: α`. `snakemake results/<family>0.37/eval.json` builds any
    member; `dvc repro` builds the members of `alphas`."""

    alphas: list[Fraction] = []


class InoculationReportConfig(Strict):
    """What results/report/inoculation.csv and alpha_sweep.png gather: one α-sweep panel per base
    model, with the families and reference experiments of that model."""

    # reference lines: experiments without manipulation (one per model, or a list)
    baseline: str | list[str] | None = "baseline"
    inoculated: str | list[str] | None = "inoculated"
    families: list[str] = []  # one line each, trait rate against α
    # every experiment is also run as `<name>_seed<N>`: one list for all, or one per model
    # (`{tiny: [42, 43], smollm2-135m: [42]}`); [] or a model left out: its own seed only
    seeds: list[int] | dict[str, list[int]] = []
    # paired data of responses without the trait: the predictors' drift (eval/predictors.py)
    control: str | None = None

    def references(self, field: str) -> list[str]:
        value = getattr(self, field)
        return [] if value is None else [value] if isinstance(value, str) else list(value)

    def seeds_for(self, model: str) -> list[int]:
        return self.seeds.get(model, []) if isinstance(self.seeds, dict) else self.seeds


class ReportConfig(Strict):
    inoculation: InoculationReportConfig | None = None


class Params(Strict):
    _file: Path = PrivateAttr(default=Path(PARAMS_FILE))  # where these were read (errors name its lines)
    seed: int = 42
    # "tiny": the model the pipeline pretrains; "smollm2-135m": a real model built from its registry
    # package (models/embedded.py); else a local path, or a hub id (GPU clusters)
    model: str = TINY
    # auto: unsloth where a CUDA GPU and the gpu extra are present, else transformers+peft (hf);
    # decided by each job where it runs (backends/__init__.py)
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
    # the percentile-bootstrap intervals beside every number of eval.json and the report (stats.py)
    bootstrap: BootstrapConfig = BootstrapConfig()

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
            for source in ds.sources():
                if source not in self.datasets:
                    raise ParamsError(f"datasets.{name}.source", f"no dataset named {source!r}")
        for name in set(self.experiments) & set(self.families):
            raise ParamsError(f"families.{name}", "an experiment has the same name")
        for section, name, exp in self._declared_experiments():
            self._check_experiment(f"{section}.{name}", exp)
        if (rep := self.report.inoculation) is not None:
            for field in ("baseline", "inoculated"):
                for i, ref in enumerate(rep.references(field)):
                    if ref not in self.experiments:
                        where = field if isinstance(getattr(rep, field), str) else f"{field}.{i}"
                        raise ParamsError(f"report.inoculation.{where}", f"no experiment named {ref!r}")
            for i, fam in enumerate(rep.families):
                if fam not in self.families:
                    raise ParamsError(f"report.inoculation.families.{i}", f"no family named {fam!r} "
                                      f"(declared: {', '.join(sorted(self.families)) or 'none'})")
            if rep.control is not None and not (rep.control in self.datasets
                                                and self.datasets[rep.control].builder == "paired"):
                raise ParamsError("report.inoculation.control", f"{rep.control!r} is not a dataset with builder paired "
                                  "(the control pairs: responses without the trait, without and with the prompt)")
            if isinstance(rep.seeds, dict):
                used = {self.experiments[n].model or self.model for f in ("baseline", "inoculated")
                        for n in rep.references(f)} | {self.families[f].model or self.model for f in rep.families}
                for model in rep.seeds:
                    if model not in used:
                        raise ParamsError(f"report.inoculation.seeds.{model}", f"no run of the report uses model "
                                          f"{model!r} (its runs use: {', '.join(sorted(used))})")
        return self

    def _declared_experiments(self):
        yield from (("experiments", n, e) for n, e in self.experiments.items())
        yield from (("families", n, e) for n, e in self.families.items())

    def _check_experiment(self, key: str, exp: ExperimentConfig) -> None:
        """References to datasets exist; each eval, callback and the training method checks its
        own rules (eval/kinds/, params/callbacks.py, train/methods/)."""
        refs = [("dataset", exp.dataset), *((f"eval.{field}", d) for field, d in exp.eval.references())]
        refs += [(f"callbacks.{kind}.{i}.dataset", c.dataset)
                 for kind in type(exp.callbacks).model_fields for i, c in enumerate(getattr(exp.callbacks, kind))]
        for field, ref in refs:
            if ref not in self.datasets:
                raise ParamsError(f"{key}.{field}", f"no dataset named {ref!r} "
                                  f"(declared: {', '.join(sorted(self.datasets)) or 'none'})")
        for kind in exp.eval.kinds():
            kind.check(self, key, exp)
        self._check_callbacks(key, exp)
        check_training(Declared(self, key, exp, self.merged_training(exp), lambda f: self.training_key(key, exp, f)))

    def _check_callbacks(self, key: str, exp: ExperimentConfig) -> None:
        """Each callback reads a dataset of a kind it reads, and writes files no other one writes."""
        for kind in type(exp.callbacks).model_fields:
            stems: set[str] = set()
            for i, c in enumerate(getattr(exp.callbacks, kind)):
                where = f"{key}.callbacks.{kind}.{i}"
                if (form := self.datasets[c.dataset].kind) not in c.reads:
                    raise ParamsError(f"{where}.dataset", f"{c.dataset!r} is a dataset of {form} (the {kind} callback "
                                      f"reads {' or '.join(c.reads)})")
                if c.stem in stems:
                    raise ParamsError(f"{where}.name", f"another {kind} callback already writes {c.stem!r}: "
                                      "give one of them a `name`")
                if not _NAME.match(c.stem):
                    raise ParamsError(f"{where}.name", "names are letters, digits, '_' and '-'")
                stems.add(c.stem)
                c.check(self, where)

    def training_key(self, key: str, exp: ExperimentConfig, field: str) -> str:
        """The key that sets a training value: the experiment's own, else the defaults'."""
        own = getattr(exp.training, field) is not None or field not in self.training.model_fields_set
        return f"{key}.training.{field}" if own else f"training.{field}"

    # -------------------------------------------------------------- derived values
    def is_mcq(self, dataset: str) -> bool:
        """MCQ datasets are scored directly; every other dataset is tokenized conversations."""
        return self.datasets[dataset].kind == "mcq"

    def is_preference(self, dataset: str) -> bool:
        """Preference pairs: trained on by DPO/ORPO; tokenized as two tagged rows per pair."""
        return self.datasets[dataset].kind == "preference"

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
                return ExperimentConfig(dataset=cfg.dataset, model=cfg.model, training=training, eval=cfg.eval,
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

    def merged_training(self, exp: ExperimentConfig) -> TrainingConfig:
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
        return self.merged_training(self.experiment(name))

    def grid(self) -> list[str]:
        """Every experiment `dvc repro` builds: the declared ones, each family's `alphas`, and
        the report's extra seeds of every experiment the report gathers."""
        names = list(self.experiments)
        names += [alpha_name(f, a) for f, cfg in self.families.items() for a in cfg.alphas]
        rep = self.report.inoculation
        if rep is not None:
            gathered = [*rep.references("baseline"), *rep.references("inoculated")]
            gathered += [alpha_name(f, a) for f in rep.families for a in self.families[f].alphas]
            names += [v for n in gathered for v in self.seed_variants(n)]
        return list(dict.fromkeys(names))

    def seed_variants(self, name: str) -> list[str]:
        """The runs of an experiment over the report's seeds: the experiment itself for its own
        seed, `<name>_seed<N>` for the others."""
        own = self.experiment_training(name).seed
        seeds = (self.report.inoculation.seeds_for(self.model_of(name)) if self.report.inoculation else []) or [own]
        return [name if s == own else seed_name(name, s) for s in seeds]

    # -------------------------------------------------------------- base models
    def model_of(self, run: str) -> str:
        """The base model a run fine-tunes: its own `model`, else the file's."""
        return self.experiment(run).model or self.model

    def error(self, key: str, message: str) -> InputError:
        """An error a stage finds in its data, at the line of the params file that sets `key`."""
        return key_error(self._file, key, message)

    def for_model(self, model: str) -> Params:
        """These params with `model` as the base model: what a stage that works for one model
        (tokenize, predictors, a run's training and evals) reads, so that every path and
        loader below it follows that model."""
        return self if model == self.model else self.model_copy(update={"model": model})

    def for_run(self, run: str) -> Params:
        return self.for_model(self.model_of(run))

    def models(self) -> list[str]:
        """Every base model an experiment or family declares, the file's `model` first."""
        return list(dict.fromkeys([self.model, *(e.model for _, _, e in self._declared_experiments() if e.model)]))

    def judge_models(self) -> list[str]:
        """The models the experiments' measures load to judge responses (measures/judge.py)."""
        return list(dict.fromkeys(j for _, _, e in self._declared_experiments() for m in e.measures()
                                  for j in m.models()))

    def model_named(self, slug: str) -> str:
        """The model whose results/ folder name is `slug` (KeyError if no run uses one)."""
        return next(m for m in self.models() if model_slug(m) == slug)

    @property
    def model_slug(self) -> str:
        """A file-name-safe name of the base model, for results/tokenized/<slug>/."""
        return model_slug(self.model)

    @property
    def is_tiny(self) -> bool:
        return self.model == TINY

    @property
    def is_embedded(self) -> bool:
        """A real model a pipeline stage builds from its registry package."""
        return self.model in EMBEDDED

    @property
    def base_model_ref(self) -> str:
        """What the stages load: the folder of the tiny or an embedded model, or the hub id or
        path params name."""
        if self.is_tiny:
            return str(paths.TINY_MODEL)
        return str(paths.embedded_model(self.model)) if self.is_embedded else self.model

    def dataset(self, name: str) -> DatasetConfig:
        """A declared dataset, or one clear error listing what is declared."""
        if name not in self.datasets:
            declared = ", ".join(sorted(self.datasets)) or "none"
            raise InputError(f"params.yaml: no dataset named {name!r} under 'datasets' (declared: {declared})")
        return self.datasets[name]

    def run(self, name: str) -> ExperimentConfig:
        """A declared experiment, a family member (`inoc_alpha0.37`) or a seed variant
        (`baseline_seed43`), or one clear error."""
        try:
            return self.experiment(name)
        except KeyError:
            declared = ", ".join(sorted(self.experiments)) or "none"
            families = ", ".join(f"{f}<α>" for f in sorted(self.families))
            raise InputError(f"params.yaml: no experiment named {name!r} (declared: {declared}"
                             f"{'; families: ' + families if families else ''}; any of them may end in _seed<N>)"
                             ) from None
        except ValueError as e:
            raise InputError(f"params.yaml: {e}") from None





def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """params.yaml validated: unknown keys and bad values name the file, the line and the key."""
    params = load_yaml_model(Params, path, BUILDER_NAMES | MEASURE_KINDS)
    params._file = Path(path)
    return params
