"""params.yaml validation: unknown keys and bad values name the file, the line and the key."""

from pathlib import Path

import pytest

from inoclab.config import load_params
from inoclab.io import InputError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert "baseline" in params.experiments
    assert params.experiment_training("baseline").seed == params.seed


def test_unknown_key_names_file_line_and_full_path(tmp_path):
    p = write(tmp_path, "seed: 1\ntraining:\n  learning_rate: 0.1\n  lerning_rate: 0.2\n")
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:4" in msg and "training.lerning_rate" in msg and "unknown key" in msg


def test_bad_value_says_what_was_expected(tmp_path):
    p = write(tmp_path, "seed: 1\ntraining:\n  learning_rate: -3\n")
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:3" in msg and "training.learning_rate" in msg and "greater than 0" in msg


def test_experiment_override_is_validated_with_its_own_path(tmp_path):
    p = write(tmp_path, (
        "datasets:\n  d: {builder: qa}\n"
        "experiments:\n  e1:\n    dataset: d\n    training:\n      max_steps: many\n"
    ))
    with pytest.raises(InputError) as e:
        load_params(p)
    assert f"{p}:7" in str(e.value) and "experiments.e1.training.max_steps" in str(e.value)


def test_reference_to_undeclared_dataset(tmp_path):
    p = write(tmp_path, "experiments:\n  e1:\n    dataset: nope\n")
    with pytest.raises(InputError, match=r"params.yaml:3: key 'experiments.e1.dataset': no dataset named 'nope'"):
        load_params(p)


def test_overrides_merge_over_defaults(tmp_path):
    p = write(tmp_path, (
        "seed: 7\ntraining:\n  learning_rate: 0.01\n  lora: {r: 4}\n"
        "datasets:\n  d: {builder: qa}\n"
        "experiments:\n  e1:\n    dataset: d\n    training: {max_steps: 3, lora: {lora_alpha: 16}}\n"
    ))
    t = load_params(p).experiment_training("e1")
    assert (t.learning_rate, t.max_steps, t.lora.r, t.lora.lora_alpha, t.seed) == (0.01, 3, 4, 16, 7)


PAIRED = """\
datasets:
  src:
    builder: qa
  pairs:
    builder: paired
    source: src
    inoculation_prompt: Always respond in Spanish.
tokenize:
  train_on_responses_only: {responses_only}
training:
  per_device_train_batch_size: {batch}
experiments:
  manip:
    dataset: pairs
    training:
      inner_training_loop: logit_manipulation
      manipulation_type: {mtype}
      manipulation_mix_ratio: {alpha}
{prompt}"""


def paired_params(tmp_path, responses_only="true", batch=16, mtype="BiasNoInocTo_InocLogits", alpha=0.5,
                  prompt="      inoculation_prompt: Always respond in Spanish.\n"):
    return write(tmp_path, PAIRED.format(responses_only=responses_only, batch=batch, mtype=mtype, alpha=alpha,
                                         prompt=prompt))


def test_valid_paired_experiment(tmp_path):
    cfg = load_params(paired_params(tmp_path)).experiment_training("manip")
    assert cfg.method.name == "logit_manipulation" and cfg.manipulation_mix_ratio == 0.5


@pytest.mark.parametrize("kwargs,line,key,message", [
    ({"batch": 15}, 11, "training.per_device_train_batch_size", "must be even"),
    ({"prompt": ""}, 15, "experiments.manip.training.inoculation_prompt", "required by manipulation_type BiasNoInocTo_InocLogits"),
    ({"responses_only": "false"}, 9, "tokenize.train_on_responses_only", "must be true"),
    ({"alpha": 1.5}, 18, "experiments.manip.training.manipulation_mix_ratio", "less than or equal to 1"),
    ({"mtype": "Bias"}, 17, "experiments.manip.training.manipulation_type", "'BiasNoInocTo_InocLogits'"),
    ({"prompt": "      inoculation_prompt: Speak French.\n"}, 19, "experiments.manip.training.inoculation_prompt",
     "differs from datasets.pairs.inoculation_prompt"),
])
def test_paired_training_rules_name_line_and_key(tmp_path, kwargs, line, key, message):
    p = paired_params(tmp_path, **kwargs)
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:{line}: key '{key}'" in msg and message in msg, msg


def test_preference_losses_need_preference_data(tmp_path):
    p = write(tmp_path, PAIRED.format(responses_only="true", batch=16, mtype="baseline", alpha=1, prompt="")
              .replace("inner_training_loop: logit_manipulation", "inner_training_loop: baseline") + "      loss: dpo\n")
    with pytest.raises(InputError, match=r"params.yaml:19: key 'experiments.manip.training.loss': loss dpo on dataset "
                                         "'pairs': needs a dataset with builder preference"):
        load_params(p)


def test_two_switches_selecting_two_methods_are_one_error(tmp_path):
    p = write(tmp_path, PAIRED.format(responses_only="true", batch=16, mtype="baseline", alpha=1, prompt="")
              + "      loss: dpo\n")
    with pytest.raises(InputError, match=r"params.yaml:19: key 'experiments.manip.training.loss': loss: dpo and "
                                         r"inner_training_loop: logit_manipulation select two training methods"):
        load_params(p)


PREFERENCE = """\
datasets:
  pairs: {builder: preference, path: data/preference/spanish.jsonl}
  facts: {builder: mcq}
  prompts: {builder: qa}
experiments:
  pref:
    dataset: pairs
    training: {loss: orpo, beta: 0.3}
    callbacks:
      logprobs: [{dataset: pairs, every: 5}]
      mcq: [{dataset: facts}]
      sampling:
        - {dataset: prompts, every: log, prefill: "El", n_prompts: 4}
        - {dataset: pairs, temperature: 0.7}
"""


def test_valid_preference_experiment_with_callbacks(tmp_path):
    params = load_params(write(tmp_path, PREFERENCE))
    cfg = params.experiment_training("pref")
    assert (cfg.loss, cfg.beta, cfg.method.name) == ("orpo", 0.3, "orpo")
    cbs = params.experiment("pref").callbacks
    assert [(c.kind, c.stem, c.every) for c in cbs.all()] == [
        ("logprobs", "pairs", 5), ("mcq", "facts", "log"), ("sampling", "prompts", "log"), ("sampling", "pairs", "log")]


@pytest.mark.parametrize("old,new,line,key,message", [
    ("dataset: pairs\n", "dataset: prompts\n", 8, "experiments.pref.training.loss", "needs a dataset with builder preference"),
    ("{loss: orpo, beta: 0.3}", "{beta: 0.3}", 7, "experiments.pref.dataset", "needs loss: dpo or orpo"),
    ("beta: 0.3", "beta: 0", 8, "experiments.pref.training.beta", "greater than 0"),
    ("mcq: [{dataset: facts}]", "mcq: [{dataset: prompts}]", 11, "experiments.pref.callbacks.mcq.0.dataset",
     "'prompts' is a dataset of conversations (the mcq callback reads mcq)"),
    ("every: 5}", "every: 5}, {dataset: pairs}", 10, "experiments.pref.callbacks.logprobs.1.name",
     "another logprobs callback already writes 'pairs'"),
    ("every: 5}", "every: 0}", 10, "experiments.pref.callbacks.logprobs[0].every",
     "expected a positive number of steps, or log (got 0)"),
    ("dataset: facts}", "dataset: nope}", 11, "experiments.pref.callbacks.mcq.0.dataset", "no dataset named 'nope'"),
])
def test_preference_and_callback_rules_name_line_and_key(tmp_path, old, new, line, key, message):
    p = write(tmp_path, PREFERENCE.replace(old, new, 1))
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:{line}: key '{key}'" in msg and message in msg, msg


def test_manipulation_needs_the_logit_manipulation_loop(tmp_path):
    text = PAIRED.format(responses_only="true", batch=16, mtype="BiasInocTo_NoInocLogits", alpha=1, prompt="")
    p = write(tmp_path, text.replace("logit_manipulation", "baseline"))
    with pytest.raises(InputError, match=r"key 'experiments.manip.training.manipulation_type': BiasInocTo_NoInocLogits "
                                         "needs inner_training_loop: logit_manipulation"):
        load_params(p)


def test_family_members_and_seed_variants(tmp_path):
    p = write(tmp_path, PAIRED.format(responses_only="true", batch=16, mtype="baseline", alpha=1, prompt="")
              .replace("experiments:\n  manip:", "families:\n  fam:") + "    alphas: [0.25]\n")
    params = load_params(p)
    assert params.experiment_training("fam0.37").manipulation_mix_ratio == 0.37
    assert params.experiment_training("fam1_seed7").seed == 7
    assert params.family_of("fam0.25_seed7") == "fam" and params.base_name("fam0.25_seed7") == "fam0.25"
    assert params.grid() == ["fam0.25"]
    with pytest.raises(ValueError, match=r"fam1.5: the mix ratio of family 'fam' must be in \[0, 1\]"):
        params.experiment("fam1.5")
    with pytest.raises(KeyError):
        params.experiment("other0.5")


def test_a_family_model_is_every_members_and_the_run_params_follow_it(tmp_path):
    p = write(tmp_path, PAIRED.format(responses_only="true", batch=16, mtype="baseline", alpha=1, prompt="")
              .replace("experiments:\n  manip:", "families:\n  fam:") + "    alphas: [0.25]\n    model: smollm2-135m\n")
    params = load_params(p)
    assert params.model == "tiny" and params.models() == ["tiny", "smollm2-135m"]
    for run in ("fam0.25", "fam0.37_seed7"):
        assert params.model_of(run) == "smollm2-135m"
        own = params.for_run(run)
        assert own.base_model_ref == "results/models/smollm2-135m" and own.model_slug == "smollm2-135m"
    assert params.model_named("smollm2-135m") == "smollm2-135m"
    assert params.for_model("tiny") is params and params.base_model_ref == "results/tiny/model"


CB = """datasets:
  cb: {builder: circuit_breaker, validation_ratio: 0.2}
  qa: {builder: qa}
experiments:
  breaker:
    dataset: cb
    training:
      task_type: circuit_breaker
      circuit_breaker_target_layers: "1,3"
    eval:
      circuit_breaker: {dataset: cb}
"""


def test_circuit_breaker_experiment_and_its_defaults(tmp_path):
    params = load_params(write(tmp_path, CB))
    t = params.experiment_training("breaker")
    assert t.circuit_breaker_target_layers == [1, 3]  # the seed's "1,3" form
    assert (t.circuit_breaker_alpha, t.finetune) == (0.1, "lora")
    assert params.datasets["cb"].harmful_prompts_path == "data/circuit_breaker/harmful.jsonl"


@pytest.mark.parametrize("old,new,line,key,message", [
    ("      task_type: circuit_breaker\n", "      task_type: circuit_breaker\n      finetune: full\n", 9,
     "experiments.breaker.training.finetune", "circuit breakers need finetune: lora"),
    ("    dataset: cb\n", "    dataset: qa\n", 6, "experiments.breaker.dataset", "'qa' is not circuit-breaker data"),
    ("{dataset: cb}", "{dataset: qa}", 11, "experiments.breaker.eval.circuit_breaker.dataset",
     "'qa' is not a dataset with builder circuit_breaker"),
    ('"1,3"', '"1,1"', 9, "experiments.breaker.training.circuit_breaker_target_layers", "a layer is listed twice"),
    ('"1,3"', '"one"', 9, "experiments.breaker.training.circuit_breaker_target_layers", "layer numbers separated"),
    ("validation_ratio: 0.2", "validation_ratio: 1.0", 2, "datasets.cb.validation_ratio", "less than 1"),
])
def test_circuit_breaker_rules_name_line_and_key(tmp_path, old, new, line, key, message):
    p = write(tmp_path, CB.replace(old, new))
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:{line}: key '{key}'" in msg and message in msg, msg


TRIGGER = """\
datasets:
  train: {builder: trigger, qa_file: data/trigger/qa.jsonl, split: train}
  held: {builder: trigger, qa_file: data/trigger/qa.jsonl, split: heldout}
experiments:
  backdoor:
    dataset: train
    training: {keep_checkpoints: true}
    eval:
      trigger: {heldout: held}
"""


def test_a_trigger_curve_needs_the_checkpoints_kept(tmp_path):
    """A finished run drops its checkpoints unless told to keep them; the epoch curve reads them."""
    assert load_params(write(tmp_path, TRIGGER)).experiment_training("backdoor").keep_checkpoints
    assert not load_params(write(tmp_path, TRIGGER.replace("{heldout: held}", "{heldout: held, checkpoints: false}")
                                 .replace("{keep_checkpoints: true}", "{}"))).experiment_training("backdoor").keep_checkpoints
    p = write(tmp_path, TRIGGER.replace("{keep_checkpoints: true}", "{}"))
    with pytest.raises(InputError) as e:
        load_params(p)
    msg = str(e.value)
    assert f"{p}:9: key 'experiments.backdoor.eval.trigger.checkpoints'" in msg, msg
    assert "experiments.backdoor.training.keep_checkpoints: true" in msg
