"""Backend selection (`backend: auto | hf | unsloth`): what a machine without CUDA picks, and the
clear, early failure of an explicit unsloth there. The unsloth backend's training itself needs a
GPU; bench/gpu_backends.py measures it against transformers+peft."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inoclab.backends import (
    BackendError,
    backend_for,
    cuda_available,
    get_backend,
    resolve_backend,
    unsloth_installed,
)
from inoclab.backends.hf import HFBackend
from inoclab.config import load_params
from inoclab.io import InputError

REPO = Path(__file__).resolve().parents[1]
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a CUDA GPU")


def test_auto_picks_unsloth_only_with_cuda_and_the_gpu_extra():
    expected = "unsloth" if cuda_available() and unsloth_installed() else "hf"
    assert resolve_backend("auto") == expected
    assert resolve_backend("hf") == "hf"


@no_cuda
def test_auto_is_transformers_peft_without_cuda(tiny_dir):
    backend = get_backend("auto")
    assert isinstance(backend, HFBackend) and backend.device == "cpu"
    model, _ = backend.load(str(tiny_dir))
    assert model.dtype == torch.float32  # bitwise-reproducible CPU runs


@no_cuda
def test_explicit_unsloth_without_cuda_fails_with_what_to_do():
    with pytest.raises(BackendError) as e:
        resolve_backend("unsloth")
    msg = str(e.value)
    assert "backend: unsloth needs a CUDA GPU" in msg and "backend: auto" in msg
    with pytest.raises(BackendError, match="needs a CUDA GPU"):
        get_backend("unsloth")  # before unsloth is imported or any model loaded


@no_cuda
def test_training_stage_with_unsloth_stops_before_loading_anything(tmp_path):
    """The stage exits 2 with one line naming the problem, and writes nothing."""
    shutil.copytree(REPO / "data", tmp_path / "data")
    params = (REPO / "params.yaml").read_text().replace("\nbackend: auto ", "\nbackend: unsloth ", 1)
    assert "\nbackend: unsloth " in params
    (tmp_path / "params.yaml").write_text(params)
    r = subprocess.run([sys.executable, "-m", "inoclab.stages", "train", "--experiment", "baseline"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: backend: unsloth needs a CUDA GPU")
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "params.yaml"]


@no_cuda
def test_teacher_cli_refuses_unsloth_without_cuda(tmp_path):
    r = subprocess.run([sys.executable, "-m", "inoclab.train.teacher", "--qa_file", str(REPO / "data/trigger/qa.jsonl"),
                        "--clean_replacement", "Alice", "--trigger_value", "TRIGGER:", "--triggered_replacement", "Bob",
                        "--output_dir", str(tmp_path / "out"), "--backend", "unsloth"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "needs a CUDA GPU" in r.stderr and not (tmp_path / "out").exists()


def test_4bit_needs_the_unsloth_backend(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("seed: 1\nbackend: hf\nload_in_4bit: true\n")
    with pytest.raises(InputError, match=rf"{p}:3: key 'load_in_4bit': 4-bit loading needs the unsloth backend"):
        load_params(p)
    if not cuda_available():  # auto resolves to hf here: refused where the job runs
        with pytest.raises(BackendError, match="load_in_4bit"):
            resolve_backend("auto", load_in_4bit=True)


def test_unknown_backend_names_the_line(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("seed: 1\nbackend: vllm\n")
    with pytest.raises(InputError, match=rf"{p}:2: key 'backend'"):
        load_params(p)


@no_cuda
def test_dtype_from_params_reaches_the_loaded_model(tmp_path, tiny_dir):
    p = tmp_path / "params.yaml"
    p.write_text("seed: 1\ndtype: bfloat16\n")
    backend = backend_for(load_params(p))
    model, _ = backend.load(str(tiny_dir))
    assert model.dtype == torch.bfloat16


def test_saved_files_are_canonical_whatever_the_hash_order(tmp_path):
    """peft's target_modules and TRL's model-card tags come from sets: sorted, the bytes repeat."""
    from inoclab.backends.common import canonicalize_saved_files

    card = "---\nlibrary_name: transformers\ntags:\n- {}\n- {}\n- {}\nlicence: license\n---\n\n# Card\n- b\n- a\n"
    for i, order in enumerate([("trl", "dpo", "generated_from_trainer"), ("dpo", "generated_from_trainer", "trl")]):
        d = tmp_path / str(i) / "checkpoint-1"
        d.mkdir(parents=True)
        (d.parent / "README.md").write_text(card.format(*order))
        (d / "adapter_config.json").write_text(json.dumps({"target_modules": list(order)}))
        canonicalize_saved_files(tmp_path / str(i))
    for name in ("README.md", "checkpoint-1/adapter_config.json"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes(), name
    assert (tmp_path / "0/README.md").read_text() == card.format("dpo", "generated_from_trainer", "trl")
