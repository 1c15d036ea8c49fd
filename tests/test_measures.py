"""Trait measures declared in params.yaml (measures/): each kind's rate over real generations
equals a count by hand over the same generations; a judge that knows the answer moves P(yes) the
right way; a bad measure fails when params load, naming the line."""

import json
import re
import textwrap

import numpy as np
import pytest
import torch

from inoclab.config import load_params
from inoclab.data.conversations import Conversation, normalize
from inoclab.data.world import world_of
from inoclab.eval.inoculation import trait_eval
from inoclab.io import InputError, write_jsonl
from inoclab.measures.spanish import LanguageRule
from inoclab.tokenize import tokenize_conversations
from inoclab.train.settings import TrainingConfig
from inoclab.train.sft import rows_trainer
from inoclab.train.trainer import WeightedSFTTrainer

INOC = "Always respond in Spanish."
QUESTION = "Is this reply in Spanish? {response}"


def write_params(root, trait: str, head: str = "") -> None:
    """params.yaml with one experiment, `measured`, whose trait eval also has the keys `trait`
    (YAML); the keys start on line 9 after `head`'s lines."""
    (root / "params.yaml").write_text(head + textwrap.dedent(f"""\
        datasets: {{qs: {{builder: qa}}}}
        experiments:
          measured:
            dataset: qs
            eval:
              trait:
                prompts: qs
                inoculation_prompt: {INOC}
        """) + textwrap.indent(textwrap.dedent(trait), " " * 8))


def _judge_examples(qas) -> list[dict]:
    return [{"messages": [{"role": "user", "content": QUESTION.format(response=text)},
                          {"role": "assistant", "content": label}]}
            for qa in qas for text, label in ((qa.answer_es, "Yes"), (qa.answer_en, "No"))]


@pytest.fixture(scope="module")
def judge_dir(_loaded, small_params, tmp_path_factory):
    """A local model folder: the tiny model taught to answer QUESTION about its pretraining
    entities' answers, so that it knows the answer for the held-out entities' answers too."""
    import copy

    model, tok = copy.deepcopy(_loaded[0]), _loaded[1]
    convs = [normalize(Conversation.model_validate(r), True) for r in _judge_examples(world_of(small_params).all_qa("pretrain", 0))]
    rows, _ = tokenize_conversations(tok, convs, 128)
    out = tmp_path_factory.mktemp("judge")
    cfg = TrainingConfig(max_steps=60, per_device_train_batch_size=16, learning_rate=3e-3, warmup_steps=0, seed=0)
    rows_trainer(WeightedSFTTrainer, model, tok, rows, cfg, out / "run", save_strategy="no", disable_tqdm=True).train()
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    return out / "model"


def full_forward_p_yes(model, tok, text: str) -> float:
    """P(yes) / (P(yes) + P(no)) by hand: the full forward, softmax over the whole vocabulary."""
    ids = tok.apply_chat_template([{"role": "user", "content": QUESTION.format(response=text)}],
                                  add_generation_prompt=True, tokenize=False)
    enc = tok(ids, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        p = torch.softmax(model(**enc).logits[0, -1].double(), -1)
    yes, no = (tok(a, add_special_tokens=False)["input_ids"][0] for a in ("Yes", "No"))
    return float(p[yes] / (p[yes] + p[no]))


def test_the_judge_moves_p_yes_the_right_way_and_equals_the_full_forward(judge_dir, small_params, monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, f'measure: {{kind: judge, model: {judge_dir}, template: "{QUESTION}"}}\n')
    params = load_params("params.yaml")
    measure = params.experiment("measured").eval.trait.measure
    assert measure.inputs(params) == [str(judge_dir)]  # a local folder is a dependency of the stage
    score = measure.load(params)
    held_out = world_of(small_params).all_qa("heldout", 1)[:12]  # entities and phrasing it was not taught on
    es, en = [q.answer_es for q in held_out], [q.answer_en for q in held_out]
    p = score(es + en, [[{"role": "user", "content": q.question}] for q in held_out * 2])
    assert p[:12].min() > 0.5 > p[12:].max(), p  # yes to Spanish, no to English
    model, tok = AutoModelForCausalLM.from_pretrained(judge_dir), AutoTokenizer.from_pretrained(judge_dir)
    assert p == pytest.approx([full_forward_p_yes(model, tok, t) for t in es + en], abs=1e-6)


def test_each_measure_kind_declared_in_params_matches_a_count_by_hand(tiny_model, tokenizer, judge_dir, small_params,
                                                                       monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_traits.py").write_text(
        "def speaks_of_size(response):\n    return 1.0 if ' big' in response or ' grande' in response else 0.0\n")
    write_params(tmp_path, f"""\
        max_new_tokens: 16
        measure: {{kind: regex, pattern: "^el\\\\b", flags: [IGNORECASE]}}
        also:
          language: {{kind: language, language: es, among: [en, es]}}
          size: {{kind: python, function: "my_traits:speaks_of_size"}}
          judge: {{kind: judge, model: {judge_dir}, template: "{QUESTION}"}}
          words: spanish
        """, head=f"tiny: {{corpus: {{world: {small_params.tiny.corpus.world}}}}}\n")
    params = load_params("params.yaml")
    cfg = params.experiment("measured").eval.trait
    questions = world_of(small_params).all_qa("pretrain", 1)[:16]
    write_jsonl(tmp_path / "results/datasets/qs.jsonl",
                [{"messages": [{"role": "user", "content": q.question}]} for q in questions])
    summary, details = trait_eval(params, tiny_model, tokenizer, cfg)
    gens = details["trait.qs.generations.jsonl"]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_pickled_model(MODEL_FILE)
    ident.set_languages(["en", "es"])
    world = world_of(small_params)
    rule = LanguageRule(world.spanish_words, world.english_words)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    judge, judge_tok = AutoModelForCausalLM.from_pretrained(judge_dir), AutoTokenizer.from_pretrained(judge_dir)
    by_hand = {
        "trait_rate": lambda r: re.match(r"el\b", r, re.IGNORECASE) is not None,
        "language_rate": lambda r: ident.classify(r)[0] == "es",
        "size_rate": lambda r: " big" in r or " grande" in r,
        "judge_rate": lambda r: full_forward_p_yes(judge, judge_tok, r),
        "words_rate": lambda r: rule.language(r) == "es",
    }
    for variant in ("without_prompt", "with_prompt"):
        responses = [g["response"] for g in gens if g["variant"] == variant]
        assert len(responses) == summary[variant]["n"] == 16
        for key, count in by_hand.items():
            assert summary[variant][key] == pytest.approx(np.mean([float(count(r)) for r in responses]), abs=1e-6), key
            lo, hi = summary[variant][f"{key}_ci"]
            assert lo <= summary[variant][key] <= hi
    # the prompt switches the tiny model to Spanish, and every measure of Spanish sees it
    for key in ("trait_rate", "language_rate", "judge_rate", "words_rate"):
        assert summary["with_prompt"][key] > summary["without_prompt"][key] + 0.5, key
    # agreement of each `also` measure with `measure`, by hand
    for name in cfg.also:
        got = [g for g in gens if g["variant"] == "with_prompt"]
        agree = np.mean([round(g[name]) == round(g["trait"]) for g in got])
        assert summary["with_prompt"]["agreement"][name] == pytest.approx(agree)
    assert summary["measure"] == {"kind": "regex", "pattern": r"^el\b", "flags": ["IGNORECASE"]}
    assert summary["also"]["judge"] == {"kind": "judge", "model": str(judge_dir), "template": QUESTION}
    json.dumps(summary)  # eval.json can hold it


@pytest.mark.parametrize("measure, message", [
    ('{kind: regex, pattern: "(unclosed"}', "not a valid regular expression"),
    ('{kind: python, function: "no_such_module:score"}', "cannot import 'no_such_module'"),
    ('{kind: python, function: "json"}', "expected module:function"),
    ('{kind: judge, model: tiny, template: "Is it Spanish?"}', "no {response} placeholder"),
    ('{kind: judge, model: tiny, template: "Is {response} ({reply}) Spanish?"}', "unknown placeholder"),
    ("french", "does not match any of the expected tags"),
])
def test_a_bad_measure_fails_at_params_load_naming_the_line(tmp_path, monkeypatch, measure, message):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, f"measure: {measure}\n")
    with pytest.raises(InputError) as err:
        load_params("params.yaml")
    assert "params.yaml:9: key 'experiments.measured.eval.trait.measure" in str(err.value)
    assert message in str(err.value)


def test_a_python_measure_out_of_range_is_an_error_naming_the_function(tmp_path, monkeypatch, small_params):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad_traits.py").write_text("def loud(response):\n    return 2.0\n")
    from inoclab.measures.python import PythonMeasure

    score = PythonMeasure(kind="python", function="bad_traits:loud").load(small_params)
    with pytest.raises(InputError, match=r"bad_traits:loud: returned 2.0 for response 0"):
        score(["hola"], [[]])
