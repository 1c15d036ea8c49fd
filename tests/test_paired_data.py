"""Paired inoculation data: the builder makes valid pairs; each broken rule names index and line."""

import json
from pathlib import Path

import pytest

from inoclab.config import Params
from inoclab.data.builders.paired import PairedDataset
from inoclab.data.builders.qa import QADataset
from inoclab.data.conversations import read_conversations
from inoclab.data.paired import validate_pairs, with_inoculation
from inoclab.io import InputError

INOC = "Always respond in Spanish."


def conv(system, answer):
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "Where does the bisut live?"}, {"role": "assistant", "content": answer}]
    return {"messages": msgs}


def check(tmp_path, rows, prompt=INOC):
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    validate_pairs(read_conversations(p), prompt, p)
    return p


def test_built_pairs_are_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = Params(tiny={"corpus": {"world": str(Path(__file__).parents[1] / "data/tiny/world.yaml")}})
    source = QADataset(builder="qa", system_prompt="You are a helpful assistant.", n_examples=5).build(params, "src")
    (tmp_path / "results/datasets").mkdir(parents=True)
    (tmp_path / "results/datasets/src.jsonl").write_text("".join(json.dumps(r) + "\n" for r in source))
    pairs = PairedDataset(builder="paired", source="src", inoculation_prompt=INOC).build(params, "p")
    assert len(pairs) == 10
    assert pairs[1]["messages"][0]["content"] == f"You are a helpful assistant. {INOC}"
    check(tmp_path, pairs)
    assert with_inoculation([{"role": "user", "content": "q"}], INOC)[0] == {"role": "system", "content": INOC}


def test_odd_number_of_examples(tmp_path):
    with pytest.raises(InputError, match=r"pairs.jsonl:3: example 2 has no partner"):
        check(tmp_path, [conv(None, "a"), conv(INOC, "a"), conv(None, "b")])


def test_assistant_messages_must_match(tmp_path):
    with pytest.raises(InputError, match=r"pairs.jsonl:4: example 3: its assistant messages differ"):
        check(tmp_path, [conv(None, "a"), conv(INOC, "a"), conv(None, "b"), conv(INOC, "c")])


def test_inoculation_prompt_present_at_odd_rows_absent_at_even(tmp_path):
    with pytest.raises(InputError, match=r"pairs.jsonl:2: example 1 .* lacks the inoculation prompt"):
        check(tmp_path, [conv(None, "a"), conv("Be nice.", "a")])
    with pytest.raises(InputError, match=r"pairs.jsonl:1: example 0 .* already contains"):
        check(tmp_path, [conv(INOC, "a"), conv(INOC, "a")])
