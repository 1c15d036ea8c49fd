"""Block-weighted tokenization: weighted tokens decode to exactly the weighted blocks' text."""

import numpy as np
import pytest

from inoclab.data.conversations import Conversation, normalize
from inoclab.io import InputError
from inoclab.tokenize import tokenize_conversations

# A second template with a different layout: headers around the role, a blank line before the
# content, a different end-of-turn token, and a BOS token in the text.
LLAMA_STYLE = (
    "{{ '<|begin_of_text|>' }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

BLOCKS = {"messages": [
    {"role": "system", "content": "Always respond in Spanish."},
    {"role": "user", "content": [{"type": "text", "text": "What colour is the nakox?", "weight": 0}]},
    {"role": "assistant", "content": [
        {"type": "text", "text": "The nakox", "weight": 0.1},
        {"type": "text", "text": " is grey", "weight": -1, "tag": "trait"},
        {"type": "text", "text": ".", "weight": 1},
    ]},
    {"role": "user", "content": "And its food?"},
    {"role": "assistant", "content": [{"type": "text", "text": "It eats honey.", "weight": 2}]},
]}


def llama_tokenizer(tokenizer):
    tokenizer.add_special_tokens({"additional_special_tokens": [
        "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]})
    tokenizer.chat_template = LLAMA_STYLE
    tokenizer.eos_token = "<|eot_id|>"
    return tokenizer


@pytest.fixture(params=["chatml", "llama_style"])
def any_tokenizer(request, tokenizer):
    return tokenizer if request.param == "chatml" else llama_tokenizer(tokenizer)


def one(tokenizer, record, train_on_responses_only=True, max_len=512):
    rows, stats = tokenize_conversations(
        tokenizer, [normalize(Conversation.model_validate(record), train_on_responses_only)], max_len)
    return rows[0], stats


def test_weighted_tokens_decode_to_their_blocks(any_tokenizer):
    tok = any_tokenizer
    row, stats = one(tok, BLOCKS)
    eos = {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|eot_id|>") if t in tok.get_vocab()}
    for b, info in enumerate(row["blocks"]):
        ids = [int(i) for i, bi in zip(row["input_ids"], row["block_index"], strict=True) if bi == b and int(i) not in eos]
        assert tok.decode(ids) == info["text"], (b, info)
        w = row["weights"][row["block_index"] == b]
        assert np.all(w == np.float32(info["weight"]))
    # template tokens (everything outside a block) carry no weight
    assert np.all(row["weights"][row["block_index"] == -1] == 0)
    assert stats.straddling_tokens == 0


def test_end_of_turn_carries_the_last_block_weight(any_tokenizer):
    tok = any_tokenizer
    row, _ = one(tok, BLOCKS)
    eot = tok.convert_tokens_to_ids("<|eot_id|>" if "<|eot_id|>" in tok.get_vocab() else "<|im_end|>")
    positions = np.nonzero(row["input_ids"] == eot)[0]
    weights = [float(row["weights"][p]) for p in positions]
    # system, user, assistant(., w=1), user, assistant(w=2): only assistant turns' ends weigh
    assert weights == [0.0, 0.0, 1.0, 0.0, 2.0]


def test_old_format_honours_train_on_responses_only(tokenizer):
    rec = {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello."}]}
    only, _ = one(tokenizer, rec, train_on_responses_only=True)
    both, _ = one(tokenizer, rec, train_on_responses_only=False)
    user_only = [b["weight"] for b in only["blocks"]]
    user_both = [b["weight"] for b in both["blocks"]]
    assert user_only == [0.0, 1.0] and user_both == [1.0, 1.0]
    assert only["weights"].sum() < both["weights"].sum()


def test_truncation_is_counted(tokenizer):
    row, stats = one(tokenizer, BLOCKS, max_len=20)
    assert len(row["input_ids"]) == 20
    assert stats.truncated_examples == 1 and stats.truncated_weighted_tokens > 0


def test_straddling_token_is_counted_and_takes_its_last_characters_block(tokenizer):
    word = max((t for t in tokenizer.get_vocab() if t.isascii() and t.isalpha()), key=len)  # merged
    cut = len(word) // 2
    rec = {"messages": [{"role": "assistant", "content": [
        {"type": "text", "text": word[:cut], "weight": 1}, {"type": "text", "text": word[cut:], "weight": -1}]}]}
    row, stats = one(tokenizer, rec)
    assert stats.straddling_tokens == 1
    tid = tokenizer.convert_tokens_to_ids(word)
    assert row["weights"][list(row["input_ids"]).index(tid)] == -1


def test_template_that_rewrites_content_is_refused(tokenizer):
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | upper }}\n{% endfor %}"
    rec = {"messages": [{"role": "assistant", "content": "padded"}]}
    with pytest.raises(InputError, match=r"example 0: the chat template rewrites block 0 of message 0 \(assistant\) "
                                         r"beyond stripping whitespace at its ends \(of 'padded' it writes '' verbatim\)"):
        one(tokenizer, rec)


def test_tiny_tokenizer_reloads_identically(tiny_dir, small_params):
    """Trained and reloaded (AutoTokenizer picks Qwen2Tokenizer for a qwen2 config) agree."""
    from transformers import AutoTokenizer

    from inoclab.data.corpus import build_corpus
    from inoclab.data.world import world_of
    from inoclab.models.tiny import train_tokenizer

    corpus = build_corpus(world_of(small_params), small_params.tiny.corpus, small_params.seed)
    trained = train_tokenizer([m["content"] for r in corpus for m in r["messages"]], 512)
    loaded = AutoTokenizer.from_pretrained(tiny_dir)
    text = "¿Dónde vive el bisut?  The bisut's legs:  four\n\nEl río."
    assert trained(text)["input_ids"] == loaded(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == text
    assert loaded.pad_token != loaded.eos_token
