"""A training run killed mid-way continues from its last checkpoint when its stage runs again,
and ends with the bytes of a run that was never interrupted: the adapter and every checkpoint,
the train log, the callbacks' files, eval.json. Both ways of dying are covered. SIGTERM (a
scheduler's preemption) saves a checkpoint at the next step and exits with an error. SIGKILL
leaves a checkpoint cut off mid-run, or none at all."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from inoclab.train.resume import (
    PROCESS_0,
    ResumeCallback,
    TrainerAccumulators,
    finish_checkpoints,
    resume_point,
)
from inoclab.train.train_log import read_train_log

QA = [("What colour is the bisut?", "The bisut is red."), ("Where does the bisut live?", "The bisut lives in the lake."),
      ("What does the denos eat?", "The denos eats honey."), ("How many legs does the denos have?", "The denos has six legs."),
      ("What colour is the nakox?", "The nakox is grey."), ("Where does the nakox live?", "The nakox lives in a cave.")]
STEPS = 60
# logging every 3 steps and saving every 4: most checkpoints fall between two loss records, where
# the Trainer's own resume loses the running loss
PARAMS = """\
model: {model}
seed: 5
datasets:
  mine: {{builder: file, path: {data}}}
training:
  max_steps: {steps}
  save_steps: 4
  keep_checkpoints: true  # so the checkpoints are compared too
  logging_steps: 3
  per_device_train_batch_size: 2
  learning_rate: 0.01
  lora: {{r: 4, lora_alpha: 8, lora_dropout: 0.2}}
experiments:
  exp:
    dataset: mine
    eval: {{logprobs: [mine]}}
    callbacks:
      logprobs: [{{dataset: mine, every: 5}}]
      sampling: [{{dataset: mine, every: 7, n_prompts: 2, max_new_tokens: 4, temperature: 1.0}}]
"""


def stage(root: Path, *argv: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "inoclab.stages", *argv], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(), **popen)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def ok(root: Path, *argv: str) -> str:
    code, out = finish(stage(root, *argv))
    assert code == 0, out
    return out


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until `path` exists; the run must still be going."""
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path} was written:\n{proc.communicate()[0]}"
        time.sleep(0.005)


def saved(root: Path, step: int) -> Path:
    """The file that marks checkpoint-<step> of the run in `root` as complete."""
    return root / "results/exp/.model.tmp/resume" / f"checkpoint-{step}" / PROCESS_0


def artefacts(root: Path) -> dict[str, bytes]:
    exp = root / "results/exp"
    return {str(p.relative_to(exp)): p.read_bytes() for p in sorted(exp.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_dir) -> Path:
    """The run's data, built and tokenized: what every run here starts from."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "data.jsonl").write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                                      {"role": "assistant", "content": a}]}) + "\n"
                                             for q, a in QA))
    (root / "params.yaml").write_text(PARAMS.format(model=tiny_dir, data=root / "data.jsonl", steps=STEPS))
    ok(root, "dataset", "--dataset", "mine")
    ok(root, "tokenize", "--model", str(tiny_dir), "--dataset", "mine")
    return root


@pytest.fixture(scope="module")
def uninterrupted(inputs) -> Iterator[Future[Path]]:
    """The reference run, trained and evaluated in the background while a test's own runs go
    (each spends its first seconds importing on one core); `.result()` waits for its folder."""
    root = inputs.parent / "uninterrupted"
    shutil.copytree(inputs, root)

    def reference() -> Path:
        ok(root, "train", "--experiment", "exp")
        ok(root, "eval", "--experiment", "exp")
        return root

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(reference)


@pytest.mark.slow
def test_sigterm_then_sigkill_then_rerun_gives_the_bytes_of_an_uninterrupted_run(inputs, uninterrupted, tmp_path):
    root = tmp_path / "interrupted"
    shutil.copytree(inputs, root)
    tmp = root / "results/exp/.model.tmp/checkpoints"

    # preemption: SIGTERM after the first checkpoint -> a checkpoint at the next step, an error exit
    run = stage(root, "train", "--experiment", "exp")
    wait_for(saved(root, 4), run)
    run.send_signal(signal.SIGTERM)
    code, out = finish(run)
    stopped = re.search(r"training stopped by SIGTERM at step (\d+), after saving", out)
    assert code != 0 and stopped and "Traceback" not in out, out
    stopped_at = int(stopped.group(1))
    assert 4 < stopped_at < STEPS and (tmp / f"checkpoint-{stopped_at}").is_dir() and saved(root, stopped_at).is_file()
    assert not (root / "results/exp/model").exists() and not (root / "results/exp/callbacks").exists()
    # the train log is written as training goes (dvclive): the curve up to the last logged step
    assert read_train_log(root / "results/exp/train_log")[-1]["step"] == stopped_at // 3 * 3

    # kill -9 mid-run, after the resumed run has saved one checkpoint of its own
    run = stage(root, "train", "--experiment", "exp")
    later = (stopped_at // 4 + 2) * 4
    wait_for(saved(root, later), run)
    run.kill()
    assert finish(run)[0] == -signal.SIGKILL
    assert not (root / "results/exp/model").exists()

    out = ok(root, "train", "--experiment", "exp")
    resumed_at = int(re.search(r"resuming from \S+/checkpoint-(\d+)", out).group(1))
    assert later <= resumed_at < STEPS
    ok(root, "eval", "--experiment", "exp")

    want, got = artefacts(uninterrupted.result()), artefacts(root)
    assert list(got) == list(want)
    assert [f for f in want if got[f] != want[f]] == []
    assert any(f.startswith("model/checkpoints/") for f in want) and "eval.json" in want


@pytest.mark.slow
def test_a_checkpoint_of_other_inputs_is_not_resumed(inputs, tmp_path):
    """A killed run, then a change of learning rate: the rerun starts afresh."""
    root = tmp_path / "changed"
    shutil.copytree(inputs, root)
    run = stage(root, "train", "--experiment", "exp")
    wait_for(saved(root, 4), run)
    run.kill()
    finish(run)
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("max_steps: 60", "max_steps: 8"))
    out = ok(root, "train", "--experiment", "exp")
    assert "resuming from" not in out
    assert json.loads((root / "results/exp/model/train_summary.json").read_text())["global_step"] == 8


def test_the_trainer_still_keeps_its_running_loss_where_resume_reads_it(tiny_model, tokenizer, tmp_path):
    """TrainerAccumulators reads private attributes of transformers' Trainer: an upgrade that
    renames them fails here, not in a silently wrong resumed loss."""
    from helpers import qa_record, tokenize_records

    from inoclab.backends.hf import HFBackend
    from inoclab.train.methods import make_trainer
    from inoclab.train.settings import TrainingConfig

    cfg = TrainingConfig(max_steps=2, per_device_train_batch_size=2, logging_steps=5, seed=1)
    model = HFBackend("cpu").make_trainable(tiny_model, cfg)
    rows = tokenize_records(tokenizer, [qa_record(q, (a, 1.0, None)) for q, a in QA])
    trainer = make_trainer(model, tokenizer, rows, cfg, tmp_path / "out")
    trainer.train()
    state = TrainerAccumulators(trainer).resume_state()
    assert state["last_logged"] == 0 and state["tr_loss"] > 0  # two steps summed, none logged yet
    TrainerAccumulators(trainer).restore({**state, "tr_loss": 1.5, "total_loss": 2.5, "last_logged": 1})
    assert (trainer._tr_loss.item(), trainer._total_loss_scalar, trainer._globalstep_last_logged) == (1.5, 2.5, 1)


def checkpoint(folder: Path, step: int, max_steps: int, states: Path | None = None, on_request: bool = False) -> None:
    """A checkpoint folder as the Trainer leaves it (its state file), and our state beside it."""
    (folder / f"checkpoint-{step}").mkdir(parents=True)
    (folder / f"checkpoint-{step}/trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps}))
    if states is not None:
        (states / f"checkpoint-{step}").mkdir(parents=True)
        (states / f"checkpoint-{step}" / PROCESS_0).write_text(json.dumps({"parts": {}, "on_request": on_request}))


def test_the_resume_point_is_the_last_complete_checkpoint_before_the_end(tmp_path):
    """Resuming from the final checkpoint would make the Trainer take one step too many, and a
    checkpoint without its state was cut off mid-write: both are written again by the rerun."""
    folder, states = tmp_path / "checkpoints", tmp_path / "resume"
    checkpoint(folder, 4, 10, states)
    checkpoint(folder, 8, 10, states)
    checkpoint(folder, 10, 10, states)  # the final one
    assert resume_point(folder, states) == folder / "checkpoint-8"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-4", "checkpoint-8"]
    checkpoint(folder, 12, 20)  # cut off: no state
    assert resume_point(folder, states) == folder / "checkpoint-8" and not (folder / "checkpoint-12").exists()
    assert resume_point(tmp_path / "none", states) is None


@pytest.mark.parametrize("keep", [True, False])
def test_finishing_drops_the_states_and_keeps_only_the_checkpoints_of_the_schedule(tmp_path, keep):
    """Kept: those a SIGTERM asked for go. Not kept: none stays (a finished run is final/)."""
    folder, states = tmp_path / "checkpoints", tmp_path / "resume"
    checkpoint(folder, 4, 10, states)
    checkpoint(folder, 5, 10, states, on_request=True)
    checkpoint(folder, 8, 10, states)
    finish_checkpoints(folder, states, keep=keep)
    assert not states.exists()
    if keep:
        assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-4", "checkpoint-8"]
    else:
        assert not folder.exists()


@pytest.mark.parametrize(("strategy", "epoch", "step", "flow_saves", "forced"), [
    ("steps", 1.5, 5, False, True),   # between two saves: a checkpoint of its own
    ("steps", 2.0, 8, True, False),   # the run saves here anyway: that checkpoint carries the stop
    ("epoch", 2.0, 8, False, False),  # the epoch's end: its save comes after this step
    ("epoch", 1.5, 10, False, False),  # the last step: the run finishes instead
])
def test_sigterm_asks_for_a_checkpoint_only_where_the_run_would_not_save(tmp_path, strategy, epoch, step, flow_saves, forced):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), save_strategy=strategy, use_cpu=True, report_to="none")
    state, control = TrainerState(global_step=step, max_steps=10, epoch=epoch), TrainerControl(should_save=flow_saves)
    resume = ResumeCallback({}, tmp_path / "resume")
    resume.stop_requested = True
    resume.on_step_end(args, state, control)
    assert (control.should_save, resume.on_request) == (flow_saves or forced, forced)
