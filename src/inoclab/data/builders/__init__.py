"""The dataset builders: `datasets.<name>.builder` in params.yaml names one of them. A new builder
is one module (its params model, subclass of DatasetSpec) and one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from inoclab.data.builders.base import DatasetSpec
from inoclab.data.builders.circuit_breaker import CircuitBreakerDataset
from inoclab.data.builders.file import FileDataset
from inoclab.data.builders.mcq import MCQDataset
from inoclab.data.builders.paired import PairedDataset
from inoclab.data.builders.preference import PreferenceDataset
from inoclab.data.builders.prompts import PromptsDataset
from inoclab.data.builders.qa import QADataset
from inoclab.data.builders.qa_logprob import QALogprobDataset
from inoclab.data.builders.trigger import TriggerDataset
from inoclab.io import write_jsonl
from inoclab.paths import dataset as dataset_path

if TYPE_CHECKING:
    from pathlib import Path

    from inoclab.config import Params

BUILDERS: tuple[type[DatasetSpec], ...] = (
    FileDataset, QADataset, QALogprobDataset, MCQDataset, PairedDataset, TriggerDataset, CircuitBreakerDataset,
    PreferenceDataset, PromptsDataset,
)
BUILDER_NAMES = frozenset(b.model_fields["builder"].annotation.__args__[0] for b in BUILDERS)

DatasetConfig = Annotated[  # one entry under `datasets:`, told apart by its `builder`
    FileDataset | QADataset | QALogprobDataset | MCQDataset | PairedDataset | TriggerDataset | CircuitBreakerDataset
    | PreferenceDataset | PromptsDataset,
    Field(discriminator="builder"),
]


def build_dataset(params: Params, name: str) -> Path:
    """Build and write the dataset; one that comes out empty is an error (an empty split, a
    source with no usable record), never an empty file that looks finished."""
    spec = params.datasets[name]
    rows = spec.build(params, name)
    if not rows:
        key, why = spec.empty_because()
        raise params.error(f"datasets.{name}{'.' + key if key else ''}",
                           f"builder {spec.builder} built no records{': ' + why if why else ''}")
    out = dataset_path(name)
    write_jsonl(out, rows)
    return out
