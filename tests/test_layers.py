"""The code layers and the code deps derived from imports.

- `lint-imports` (import-linter, the contracts in pyproject.toml): each layer imports only the
  layers below it, and no package of src/inoclab is in an import cycle.
- Every stage depends on exactly the project files its command imports: an
  independent walk of each stage module's imports (importlib, following what Python itself
  resolves) is covered by its deps, and the files each stage really loaded in the end-to-end
  build are too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline import stage_graph

from inoclab import allocator
from inoclab.codedeps import lazy_imports

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "2 kept, 0 broken" in r.stdout


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in (REPO / "src").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_imports_inside_functions_are_only_in_components_a_stage_runs():
    """The walk follows function-level imports only in a stage's roots; a lazy import elsewhere
    would be a dependency it cannot see. The backends' factory, and the components that keep
    params light by importing their implementation when they run (the stage lists them as
    roots: workflow.stage_code), are the only places that do it."""
    lazy = {str(Path(f).relative_to(REPO / "src")) for f in lazy_imports(REPO / "src")}
    components = {"inoclab/train/methods/", "inoclab/eval/kinds/", "inoclab/train/callbacks/", "inoclab/measures/"}
    assert "inoclab/backends/__init__.py" in lazy
    assert {f for f in lazy if not any(f.startswith(c) for c in components)} == {"inoclab/backends/__init__.py"}


# One interpreter imports the heavy libraries once, then forks a child per stage module: each child
# imports its module and reports the project files it loaded. (An interpreter per module took
# 2.5 times as long, each importing torch and transformers again.)
_LOADED_BY_EACH = r"""
import importlib, importlib.util, json, os, pathlib, sys
for lib in ("torch", "transformers", "peft", "trl", "datasets", "pandas", "numpy"):
    importlib.import_module(lib)  # not project code
root = pathlib.Path(importlib.util.find_spec("inoclab").origin).parents[1]
loaded = {}
for module in sys.argv[1:]:
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        importlib.import_module(module)
        files = sorted({str(pathlib.Path(m.__file__).relative_to(root.parent)) for m in list(sys.modules.values())
                        if getattr(m, "__file__", None) and pathlib.Path(m.__file__).is_relative_to(root)})
        with os.fdopen(w, "w") as f:
            json.dump(files, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        loaded[module] = json.load(f)
    os.wait()
print(json.dumps(loaded))
"""


def _loaded_by_each(modules: list[str]) -> dict[str, set[str]]:
    """The project files importing each module loads in a fresh interpreter (Python's own
    resolution, not the ast walk under test), without any project module imported before."""
    r = subprocess.run([sys.executable, "-c", _LOADED_BY_EACH, *modules], cwd=REPO, capture_output=True, text=True,
                       check=True)
    return {m: set(files) for m, files in json.loads(r.stdout).items()}


@pytest.fixture(scope="module")
def graph() -> dict[str, dict]:
    """Each stage's command and the code files its fingerprint covers, by name."""
    return {name: {"cmd": s.cmd, "code": s.code} for name, s in stage_graph(REPO).items()}


@pytest.mark.slow
def test_every_stage_depends_on_the_project_files_its_module_imports(graph):
    first = {}  # stage kind -> the first stage of that kind
    for name, st in graph.items():
        first.setdefault(st["cmd"].split()[3], name)  # python -m inoclab.stages <stage> ...
    assert set(first) >= {"dataset", "tokenize", "train", "eval", "predictors", "report"}
    modules = ["inoclab.stages." + {"eval": "evaluate"}.get(kind, kind) for kind in first]
    loaded = _loaded_by_each(modules)
    for name, files in zip(first.values(), (loaded[m] for m in modules), strict=True):
        missing = files - set(graph[name]["code"])
        assert not missing, f"stage {name} imports {sorted(missing)}, which its code deps do not list"


@pytest.mark.slow
def test_stages_load_only_files_their_deps_list(small_pipeline):
    """What each stage of the end-to-end build really loaded (recorded by the entry point)."""
    by_cmd = {" ".join(s.cmd.split()[3:]): s for s in stage_graph(small_pipeline).values()}
    records = [json.loads(line) for line in (small_pipeline / "imports.jsonl").read_text().splitlines()]
    assert len(records) >= 20
    for rec in records:
        st = by_cmd[" ".join(rec["argv"])]
        missing = set(rec["files"]) - set(st.code)
        assert not missing, f"{' '.join(rec['argv'])} loaded {sorted(missing)}, which its code deps do not list"


@pytest.mark.slow
def test_stages_run_on_tcmalloc_where_it_is_installed(small_pipeline):
    """The entry point starts itself again with tcmalloc preloaded (allocator.py)."""
    records = [json.loads(line) for line in (small_pipeline / "imports.jsonl").read_text().splitlines()]
    expected = "tcmalloc" if allocator.tcmalloc() and os.environ.get(allocator.ENV) != "system" else "system"
    assert {r["allocator"] for r in records} == {expected}


def test_the_allocator_is_preloaded_once_and_can_be_turned_off():
    assert allocator.with_tcmalloc({allocator.ENV: "system"}) == {allocator.ENV: "system"}
    env = allocator.with_tcmalloc({"LD_PRELOAD": "libother.so"})
    if allocator.tcmalloc():
        assert env["LD_PRELOAD"].split() == [allocator.tcmalloc(), "libother.so"]
        assert allocator.with_tcmalloc(env) == env  # the restarted process does not start again
    else:
        assert env == {"LD_PRELOAD": "libother.so"}


def test_a_stage_depends_on_the_components_it_runs_and_not_on_the_others(graph):
    """Editing DPO's trainer reruns the DPO experiment, not the SFT ones; editing the trigger
    eval reruns the trigger experiment's eval only."""
    def deps(stage):
        return set(graph[stage]["code"])

    dpo_code, cb_code = "src/inoclab/train/preference.py", "src/inoclab/train/circuit_breaker.py"
    assert dpo_code in deps("train-dpo") and dpo_code not in deps("train-baseline")
    assert cb_code in deps("train-circuit_breaker") and cb_code not in deps("train-baseline")
    assert "src/inoclab/train/trainer.py" in deps("train-baseline")
    sampling = "src/inoclab/models/generate.py"  # the baseline's sampling callback generates
    assert sampling in deps("train-baseline") and sampling not in deps("train-trigger")  # no callbacks
    assert "src/inoclab/eval/trigger.py" in deps("eval-trigger") and "src/inoclab/eval/trigger.py" not in deps(
        "eval-baseline")
