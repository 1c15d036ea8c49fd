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
    validate_pairs(read_conversations(p), [prompt] if isinstance(prompt, str) else prompt, p)
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


POOL = [INOC, "Respond only in Spanish.", "Your replies are in Spanish."]


def test_a_pool_of_paraphrases_draws_one_per_pair_with_the_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = Params(tiny={"corpus": {"world": str(Path(__file__).parents[1] / "data/tiny/world.yaml")}})
    source = QADataset(builder="qa", n_examples=30).build(params, "src")
    (tmp_path / "results/datasets").mkdir(parents=True)
    (tmp_path / "results/datasets/src.jsonl").write_text("".join(json.dumps(r) + "\n" for r in source))
    spec = PairedDataset(builder="paired", source="src", inoculation_prompt=POOL)
    pairs = spec.build(params, "p")
    drawn = [row["messages"][0]["content"] for row in pairs[1::2]]
    assert [row["meta"]["inoculation_prompt"] for row in pairs[1::2]] == drawn
    assert set(drawn) == set(POOL)  # 30 draws from 3: every paraphrase is used
    assert all(row["messages"][0]["role"] == "user" for row in pairs[0::2])
    assert spec.build(params, "p") == pairs  # the seed fixes the draws
    assert spec.build(params.model_copy(update={"seed": 7}), "p") != pairs
    check(tmp_path, pairs, POOL)  # any member of the pool makes a valid inoculated row
    with pytest.raises(InputError, match=r"pairs.jsonl:\d+: example \d+ .* lacks the inoculation prompt"):
        check(tmp_path, pairs, POOL[:1])  # the rows with the other paraphrases lack the one prompt
    # the inoculated dataset draws its system prompt from the same kind of pool
    systems = [r["messages"][0]["content"] for r in QADataset(builder="qa", system_prompt=POOL, n_examples=30).build(params, "i")]
    assert set(systems) == set(POOL)


def test_a_pool_must_be_distinct_non_empty_prompts():
    for bad in ([], [INOC, INOC], [INOC, ""]):
        with pytest.raises(ValueError, match="non-empty list of distinct, non-empty prompts"):
            PairedDataset(builder="paired", source="src", inoculation_prompt=bad)
