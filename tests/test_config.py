"""params.yaml validation: unknown keys and bad values name the file, the line and the key."""

from pathlib import Path

import pytest

from inoclab.config import load_params
from inoclab.io import InputError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert "baseline" in params.experiments
    assert params.experiment_training("baseline").seed == params.seed


def test_unknown_key_names_file_line_and_full_path(tmp_path):
    p = write(tmp_path, "seed: 1\ntraining:\n  learning_rate: 0.1\n  lerning_rate: 0.2\n")
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:4" in msg and "training.lerning_rate" in msg and "unknown key" in msg


def test_bad_value_says_what_was_expected(tmp_path):
    p = write(tmp_path, "seed: 1\ntraining:\n  learning_rate: -3\n")
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:3" in msg and "training.learning_rate" in msg and "greater than 0" in msg


def test_experiment_override_is_validated_with_its_own_path(tmp_path):
    p = write(tmp_path, (
        "datasets:\n  d: {builder: qa}\n"
        "experiments:\n  e1:\n    dataset: d\n    training:\n      max_steps: many\n"
    ))
    with pytest.raises(InputError) as e:
        load_params(p)
    assert f"{p}:7" in str(e.value) and "experiments.e1.training.max_steps" in str(e.value)


def test_reference_to_undeclared_dataset(tmp_path):
    p = write(tmp_path, "experiments:\n  e1:\n    dataset: nope\n")
    with pytest.raises(InputError, match="experiments.e1.dataset: no dataset named 'nope'"):
        load_params(p)


def test_overrides_merge_over_defaults(tmp_path):
    p = write(tmp_path, (
        "seed: 7\ntraining:\n  learning_rate: 0.01\n  lora: {r: 4}\n"
        "datasets:\n  d: {builder: qa}\n"
        "experiments:\n  e1:\n    dataset: d\n    training: {max_steps: 3, lora: {lora_alpha: 16}}\n"
    ))
    t = load_params(p).experiment_training("e1")
    assert (t.learning_rate, t.max_steps, t.lora.r, t.lora.lora_alpha, t.seed) == (0.01, 3, 4, 16, 7)
