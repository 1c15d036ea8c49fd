"""A run that would do nothing is an error, not an output that looks finished: data with no
trained token, answers that max_seq_length cuts away, zero optimizer steps, an empty split, an
eval with nothing to score. Each fails naming the dataset, file and lines (or the params line),
before any model is loaded, and leaves no output."""

import json
from pathlib import Path

import pytest
from helpers import qa_record

from inoclab.config import load_params
from inoclab.data.conversations import Conversation, normalize
from inoclab.io import InputError
from inoclab.stages import run
from inoclab.tokenize import check_trainable, tokenize_conversations

REPO = Path(__file__).resolve().parents[1]
ANSWERED = {"messages": [{"role": "user", "content": "Where does the bisut live?"},
                         {"role": "assistant", "content": "The bisut lives in the lake."}]}
UNWEIGHTED = {"messages": [{"role": "user", "content": "Where does the bisut live?"},
                           {"role": "assistant", "content": [{"type": "text", "text": "In the lake.", "weight": 0}]}]}
QUESTION_ONLY = {"messages": [{"role": "user", "content": "Where does the bisut live?"}]}
LONG_QUESTION = {"messages": [{"role": "user", "content": " ".join(["Where does the bisut live?"] * 40)},
                              {"role": "assistant", "content": "In the lake."}]}


def project(root: Path, model: Path, records: list[dict], extra: str = "") -> None:
    """A project whose dataset `mine` is `records` and whose experiment `exp` trains on it."""
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "params.yaml").write_text(
        f"model: {model}\n{extra}"
        f"datasets:\n  mine: {{builder: file, path: {root / 'data.jsonl'}}}\n"
        "experiments:\n  exp: {dataset: mine}\n")


def stage(root: Path, monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """Run a stage in this process from `root`: its exit code and what it printed to stderr."""
    monkeypatch.chdir(root)
    capsys.readouterr()
    try:
        run(list(argv))
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def build_and_tokenize(root, model, monkeypatch, capsys):
    assert stage(root, monkeypatch, capsys, "dataset", "--dataset", "mine")[0] == 0
    assert stage(root, monkeypatch, capsys, "tokenize", "--model", str(model), "--dataset", "mine")[0] == 0


@pytest.mark.parametrize("records", [[UNWEIGHTED, UNWEIGHTED], [QUESTION_ONLY, QUESTION_ONLY]],
                         ids=["weights all 0", "no assistant message"])
def test_training_on_data_with_no_trained_token_fails_before_a_model_is_loaded(
        tmp_path, tiny_dir, monkeypatch, capsys, records):
    project(tmp_path, tiny_dir, records)
    build_and_tokenize(tmp_path, tiny_dir, monkeypatch, capsys)
    code, err = stage(tmp_path, monkeypatch, capsys, "train", "--experiment", "exp")
    assert code == 2 and "Traceback" not in err
    assert "dataset 'mine'" in err and "results/datasets/mine.jsonl" in err and "no example has a trained token" in err
    assert "lines 1, 2" in err
    assert "Loading weights" not in err  # refused before the model was read
    assert not (tmp_path / "results/exp").exists()


def test_a_max_seq_length_that_cuts_away_every_trained_token_of_an_example_is_an_error(
        tmp_path, tiny_dir, monkeypatch, capsys):
    project(tmp_path, tiny_dir, [ANSWERED, LONG_QUESTION, ANSWERED], extra="tokenize: {max_seq_length: 48}\n")
    build_and_tokenize(tmp_path, tiny_dir, monkeypatch, capsys)
    code, err = stage(tmp_path, monkeypatch, capsys, "train", "--experiment", "exp")
    assert code == 2 and "tokenize.max_seq_length cuts away every weighted token of 1 example(s)" in err
    assert "results/datasets/mine.jsonl lines 2:" in err
    assert not (tmp_path / "results/exp").exists()


def test_examples_without_a_trained_token_are_counted_and_warned_about(tokenizer, capsys):
    records = [qa_record("Where does the bisut live?", ("In the lake.", 1.0, None)),
               qa_record("Where does the denos live?", ("In the lake.", 0.0, None))]
    convs = [normalize(Conversation.model_validate(r), True) for r in records]
    rows, stats = tokenize_conversations(tokenizer, convs, 256, ["data.jsonl:1", "data.jsonl:2"])
    assert (stats.untrained_examples, stats.untrained_lines) == (1, ["data.jsonl:2"])
    for line, row in enumerate(rows, start=1):
        row["line"] = line
    check_trainable(rows, "mine", "data.jsonl", "mine.parquet")  # one example trains: no error
    assert "1 of 2 example(s) have no trained token and train nothing, lines 2" in capsys.readouterr().err
    with pytest.raises(InputError, match="no examples to train on"):
        check_trainable([], "mine", "data.jsonl", "mine.parquet")


def test_zero_optimizer_steps_is_refused_where_params_set_it(tmp_path, tiny_dir):
    project(tmp_path, tiny_dir, [ANSWERED], extra="training:\n  max_steps: 0\n")
    with pytest.raises(InputError, match=r"params.yaml:3: key 'training.max_steps': 0 optimizer steps trains nothing"):
        load_params(tmp_path / "params.yaml")


def test_an_empty_split_is_an_error_at_the_key_that_empties_it(tmp_path, monkeypatch, capsys):
    qa = REPO / "data/trigger/qa.jsonl"
    (tmp_path / "params.yaml").write_text(
        "datasets:\n"
        f"  held:\n    builder: trigger\n    qa_file: {qa}\n    split: heldout\n    heldout_fraction: 0.0\n")
    code, err = stage(tmp_path, monkeypatch, capsys, "dataset", "--dataset", "held")
    assert code == 2 and "Traceback" not in err
    assert "params.yaml:6: key 'datasets.held.heldout_fraction': builder trigger built no records" in err
    assert not (tmp_path / "results/datasets/held.jsonl").exists()


def test_an_eval_with_nothing_to_score_fails_before_a_model_is_loaded(tmp_path, tiny_dir, monkeypatch, capsys):
    """max_seq_length 2 keeps the template's first tokens only: no message token is left to score."""
    project(tmp_path, tiny_dir, [ANSWERED], extra="tokenize: {max_seq_length: 2}\n")
    params = (tmp_path / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(params.replace("exp: {dataset: mine}", "exp: {dataset: mine, eval: {logprobs: [mine]}}"))
    build_and_tokenize(tmp_path, tiny_dir, monkeypatch, capsys)
    code, err = stage(tmp_path, monkeypatch, capsys, "eval", "--experiment", "exp")
    assert code == 2 and "eval.logprobs: dataset 'mine'" in err and "has nothing to score" in err
    assert not (tmp_path / "results/exp/eval.json").exists() and not (tmp_path / "results/exp/eval_details").exists()
