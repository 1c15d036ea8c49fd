"""Bad conversation input fails once, naming the file, the line and the field; nothing is written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inoclab.data.conversations import read_conversations
from inoclab.io import InputError

REPO = Path(__file__).resolve().parents[1]
GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def jsonl(tmp_path, *lines) -> Path:
    p = tmp_path / "data.jsonl"
    p.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return p


def test_malformed_json_line(tmp_path):
    p = jsonl(tmp_path, GOOD, '{"messages": [', GOOD)
    with pytest.raises(InputError, match=rf"{p}:2: malformed JSON"):
        read_conversations(p)


def test_missing_role(tmp_path):
    p = jsonl(tmp_path, GOOD, GOOD, {"messages": [{"role": "user", "content": "q"}, {"content": "a"}]})
    with pytest.raises(InputError) as e:
        read_conversations(p)
    assert f"{p}:3" in str(e.value) and "messages[1].role" in str(e.value) and "Field required" in str(e.value)


@pytest.mark.parametrize("weight", ["1", "heavy", True, None])
def test_weight_that_is_not_a_number(tmp_path, weight):
    block = {"type": "text", "text": "a", "weight": weight}
    if weight is None:
        block["weight"] = float("nan")
    p = jsonl(tmp_path, GOOD, {"messages": [{"role": "assistant", "content": [block]}]})
    if weight is None:  # json.dumps writes NaN; it must be rejected as not finite
        p.write_text(p.read_text())
    with pytest.raises(InputError) as e:
        read_conversations(p)
    assert f"{p}:2" in str(e.value) and "messages[0].content" in str(e.value) and "weight" in str(e.value)


def test_unknown_role_and_empty_file(tmp_path):
    p = jsonl(tmp_path, {"messages": [{"role": "robot", "content": "x"}]})
    with pytest.raises(InputError, match=rf"{p}:1: field 'messages\[0\].role'"):
        read_conversations(p)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="no records"):
        read_conversations(empty)


def test_stage_fails_cleanly_and_writes_nothing(tmp_path):
    """The dataset stage on a bad file: exit code 2, one error line, no output file."""
    bad = jsonl(tmp_path, GOOD, {"messages": [{"role": "assistant", "content": [{"text": "a", "weight": "x"}]}]})
    (tmp_path / "params.yaml").write_text(f"datasets:\n  mine: {{builder: file, path: {bad}}}\n")
    r = subprocess.run(
        [sys.executable, "-m", "inoclab.stages", "dataset", "--dataset", "mine"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert r.returncode == 2, r.stderr
    assert f"{bad}:2" in r.stderr and "weight" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.jsonl"))


def test_prompts_builder_reads_plain_prompts_and_names_a_bad_line(tmp_path):
    """`builder: prompts`: one conversation per prompt, ending before the answer; a line without
    `prompt` fails naming file, line and field."""
    from inoclab.config import load_params

    good = tmp_path / "prompts.jsonl"
    good.write_text('{"prompt": "Where does the bavan live?"}\n{"prompt": "Hola?", "system": "Be brief."}\n')
    (tmp_path / "params.yaml").write_text(f"datasets:\n  mine: {{builder: prompts, path: {good}}}\n")
    params = load_params(tmp_path / "params.yaml")
    rows = params.datasets["mine"].build(params, "mine")
    assert [r["messages"] for r in rows] == [
        [{"role": "user", "content": "Where does the bavan live?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hola?"}]]
    assert params.datasets["mine"].inputs(params) == [str(good)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"promt": "typo"}\n')
    (tmp_path / "params.yaml").write_text(f"datasets:\n  mine: {{builder: prompts, path: {bad}}}\n")
    params = load_params(tmp_path / "params.yaml")
    with pytest.raises(InputError, match=rf"{bad}:2.*prompt"):
        params.datasets["mine"].build(params, "mine")
