"""The tokenize stage reads the pipeline's own tokenizers from their files, without torch: the
rows it writes must be those AutoTokenizer's tokenizer gives, the one training and evaluation load."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TWO_TURNS, qa_record
from test_tokenize import BLOCKS

from inoclab.config import load_params
from inoclab.data.conversations import Conversation, normalize
from inoclab.io import InputError
from inoclab.models.file_tokenizer import FileTokenizer
from inoclab.stages.tokenize import tokenizer_folder
from inoclab.tokenize import tokenize_conversations
from inoclab.workflow import tokenize_stage

REPO = Path(__file__).resolve().parents[1]

RECORDS = [
    BLOCKS,
    {"messages": TWO_TURNS},
    qa_record("¿Cuál es la capital de Zorvia?", ("La capital es Quenta", 1.0, None), (" 🌍 ñandú…", -0.5, "trait"),
              system="Always respond in Spanish."),
    qa_record("Write two lines.", ("first line\n\n  second\tline  ", 1.0, None)),
    {"messages": [{"role": "user", "content": "A prompt alone, <|im_end|> in its text"}]},
]


def rows_of(tokenizer, max_len=24):
    convs = [normalize(Conversation.model_validate(r), True) for r in RECORDS]
    return tokenize_conversations(tokenizer, convs, max_len)


def assert_same_rows(file_tok: FileTokenizer, tokenizer) -> None:
    """The files give the tokenizer's special tokens, renders, ids, offsets, weights and truncation."""
    assert sorted(file_tok.all_special_ids) == sorted(tokenizer.all_special_ids)
    (rows, stats), (expected, expected_stats) = rows_of(file_tok), rows_of(tokenizer)
    assert stats == expected_stats and stats.truncated_examples > 0
    for row, want in zip(rows, expected, strict=True):
        assert row.keys() == want.keys()
        for key, value in row.items():
            assert (np.array_equal(value, want[key]) if isinstance(value, np.ndarray) else value == want[key]), key
    for conv in RECORDS:
        for gen in (False, True):
            assert (file_tok.apply_chat_template(conv["messages"][:1], add_generation_prompt=gen)
                    == tokenizer.apply_chat_template(conv["messages"][:1], tokenize=False, add_generation_prompt=gen))


def test_the_tiny_tokenizer_read_from_its_files_gives_autotokenizers_rows(tokenizer, tiny_dir):
    """AutoTokenizer loads the tiny model's folder as a Qwen2Tokenizer (it rebuilds the
    normalizer and pre-tokenizer); the files give the same rows."""
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert_same_rows(FileTokenizer(tiny_dir), tokenizer)


def test_a_class_that_may_rebuild_the_pipeline_is_refused(tiny_dir, tmp_path):
    for f in tiny_dir.glob("tokenizer*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "LlamaTokenizer"}))
    with pytest.raises(InputError, match=r"tokenizer_config.json: tokenizer_class 'LlamaTokenizer'"):
        FileTokenizer(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(InputError, match="no tokenizer.json"):
        FileTokenizer(tmp_path)


def test_the_tokenize_stage_imports_no_torch():
    code = "import sys, inoclab.stages.tokenize; print(sorted(m for m in ('torch', 'transformers.models') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("model", ["tiny", "smollm2-135m"])
def test_the_tokenize_stage_depends_on_the_folder_it_reads(model):
    params = load_params(REPO / "params.yaml")
    folder = tokenizer_folder(params.for_model(model))
    assert folder is not None and folder in tokenize_stage(params, model, "spanish_paired").inputs
