"""Shared fixtures: a real tiny model, built once per test session by the project's own code.

It is smaller than the pipeline's default (a few hundred pretraining steps on a small corpus)
so that the suite stays fast on 2 cores, but it is the same tokenizer, architecture and
trainer: a real Qwen2 that has learned the corpus's answer format.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_params():
    from inoclab.config import Params
    from inoclab.params.tiny import (
        ArchitectureConfig,
        CorpusConfig,
        PretrainConfig,
        TinyConfig,
        TokenizerConfig,
    )

    return Params(
        tiny=TinyConfig(
            corpus=CorpusConfig(world=str(REPO / "data/tiny/world.yaml"), n_examples=3000),
            tokenizer=TokenizerConfig(vocab_size=512),
            architecture=ArchitectureConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                            num_key_value_heads=2, intermediate_size=128),
            pretrain=PretrainConfig(max_steps=150, batch_size=32, learning_rate=3e-3, warmup_steps=10),
        )
    )


@pytest.fixture(scope="session")
def tiny_dir(small_params, tmp_path_factory, request) -> Path:
    """A pretrained tiny model + tokenizer saved with save_pretrained.

    Kept in pytest's cache (.pytest_cache/d/tiny-<digest>) under a digest of what builds it:
    its params, the bytes of the project code that pretraining imports, and the torch and
    transformers versions. A fresh clone (CI) builds it; the fast loop reuses it until that
    code changes. `-p no:cacheprovider` always builds."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return _build_tiny(small_params, tmp_path_factory.mktemp("tiny"))
    cached = Path(cache.mkdir(f"tiny-{_tiny_digest(small_params)}")) / "model"
    if not (cached / "config.json").is_file():
        built = _build_tiny(small_params, tmp_path_factory.mktemp("tiny"))
        tmp = cached.with_name("model.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(built, tmp)
        tmp.rename(cached)  # whole or absent, also when the run is cut off
    return cached


def _tiny_digest(params) -> str:
    import transformers

    from inoclab.codedeps import code_deps

    h = hashlib.sha256(params.model_dump_json().encode() + f"{torch.__version__} {transformers.__version__}".encode())
    for f in code_deps(["inoclab.train.pretrain", "inoclab.data.corpus", "inoclab.data.world", "inoclab.models.tiny"],
                       src=REPO / "src"):
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def _build_tiny(params, root: Path) -> Path:
    from inoclab.data.corpus import build_corpus
    from inoclab.data.world import world_of
    from inoclab.io import write_jsonl
    from inoclab.models.tiny import train_tokenizer
    from inoclab.train.pretrain import pretrain

    corpus = build_corpus(world_of(params), params.tiny.corpus, params.seed)
    write_jsonl(root / "corpus.jsonl", corpus)
    tokenizer = train_tokenizer([m["content"] for r in corpus for m in r["messages"]], params.tiny.tokenizer.vocab_size)
    pretrain(params, root / "corpus.jsonl", tokenizer, root / "model", root / "log.jsonl")
    return root / "model"


@pytest.fixture(scope="session")
def _loaded(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture
def tiny_model(_loaded):
    """A fresh copy per test, so training in one test cannot leak into another."""
    torch.manual_seed(0)
    return copy.deepcopy(_loaded[0])


@pytest.fixture
def tokenizer(_loaded):
    return copy.deepcopy(_loaded[1])


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory) -> Path:
    """The whole small pipeline (tests/pipeline.py) built once by Snakemake on this machine:
    the reference the end-to-end tests compare other engines and executors against."""
    from pipeline import run, small_copy

    root = small_copy(tmp_path_factory.mktemp("pipeline") / "local")
    # every stage notes the project files it loaded (tests/test_layers.py checks them against its deps)
    env = {**os.environ, "INOCLAB_RECORD_IMPORTS": str(root / "imports.jsonl")}
    # with warm starts (inoclab/warm.py): the stages fork from a process that has imported torch
    # and transformers, so a stage's seconds are its own work, and one job that takes both cores
    # at a time is the fastest (90 s, against 174 s for two such jobs at once on 2 cores, and
    # 245 s cold). The SLURM test's cold cluster jobs, and DVC's reruns in test_workflow, must
    # give these bytes
    run(["python", "-m", "inoclab.warm", "snakemake"], root, env=env)
    return root
