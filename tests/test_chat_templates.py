"""Block-weighted tokenization on the chat templates researchers use, each built here from its
Jinja text (the published templates, tools left out) on a tokenizer with the family's special
tokens. Three invariants on each: the ids equal the template's own tokenization; the weighted
tokens of a block decode to its text less what the template strips; the end of turn keeps the
weight of the turn's last block. The real SmolLM2 tokenizer is checked in test_embedded.py."""

import pytest
from helpers import TWO_TURNS, blocks, check_invariants, tokenize_records

from inoclab.io import InputError

LLAMA3 = (  # Meta-Llama-3-8B-Instruct: contents trimmed
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN3 = (  # Qwen3: reasoning moved into a think block, an empty one on the last turn, dropped before
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and "
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}{%- if message.content is string %}{%- set content = message.content %}"
    "{%- else %}{%- set content = '' %}{%- endif %}"
    "{%- if (message.role == \"user\") or (message.role == \"system\") %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == \"assistant\" %}{%- set reasoning_content = '' %}"
    "{%- if message.reasoning_content is string %}{%- set reasoning_content = message.reasoning_content %}"
    "{%- else %}{%- if '</think>' in content %}"
    "{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}{%- endif %}"
    "{%- if loop.index0 > ns.last_query_index %}{%- if loop.last or (not loop.last and reasoning_content) %}"
    "{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + "
    "content.lstrip('\\n') }}{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}{{- '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)
GEMMA3 = (  # Gemma 3: the system prompt merged into the first user turn; contents trimmed
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = \"\" -%}"
    "{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}{%- endif -%}"
    "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}"
    "{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}"
)
MISTRAL = (  # Mistral-7B-Instruct-v0.1: user and assistant roles only
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
FAMILIES = {  # template, special tokens, BOS, end of turn
    "llama3": (LLAMA3, ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
               "<|begin_of_text|>", "<|eot_id|>"),
    "qwen3": (QWEN3, ["<|im_start|>", "<|im_end|>", "<think>", "</think>"], None, "<|im_end|>"),
    "gemma3": (GEMMA3, ["<bos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<end_of_turn>"),
    "mistral": (MISTRAL, ["<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>"),
}


def family(tokenizer, name):
    template, specials, bos, eot = FAMILIES[name]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.chat_template = template
    if bos:
        tokenizer.bos_token = bos
    tokenizer.eos_token = eot
    return tokenizer


@pytest.mark.parametrize("name", ["llama3", "gemma3"])
def test_templates_that_strip_message_ends(tokenizer, name):
    check_invariants(family(tokenizer, name), TWO_TURNS, ["\nThe nakox"[1:], " is grey.", "It eats honey."])


def test_qwen3_empty_think_block_on_the_last_turn_is_template_text(tokenizer):
    row = check_invariants(family(tokenizer, "qwen3"), TWO_TURNS,
                           ["\nThe nakox", " is grey.  ", "It eats honey."])
    text = tokenizer.decode(row["input_ids"])
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\nIt eats honey.<|im_end|>\n")
    assert text.count("<think>") == 1  # the earlier turn has none


def test_qwen3_reasoning_written_as_the_template_writes_it_is_weighted_exactly(tokenizer):
    reasoning = "<think>\nThe nakox is a bird; birds eat seeds.\n</think>\n\n"
    messages = [{"role": "user", "content": "What does the nakox eat?"},
                {"role": "assistant", "content": blocks((reasoning, 0.2), ("It eats seeds.", 1.0))}]
    check_invariants(family(tokenizer, "qwen3"), messages, [reasoning, "It eats seeds."])


def test_qwen3_reasoning_the_template_rewrites_or_drops_is_one_clear_error(tokenizer):
    family(tokenizer, "qwen3")
    terse = [{"role": "user", "content": "Q?"},
             {"role": "assistant", "content": blocks(("<think>Birds eat seeds.</think>", 0.2), ("Seeds.", 1.0))}]
    with pytest.raises(InputError, match=r"example 0: the chat template inserts text inside block 0 of message 1 "
                                         r"\(assistant\).*reasoning: write it as the template does"):
        tokenize_records(tokenizer, [{"messages": terse}])
    earlier = [*terse[:1], {"role": "assistant", "content": blocks(("<think>\nSeeds.\n</think>\n\n", 0.2),
                                                                    ("Seeds.", 1.0))},
               {"role": "user", "content": "And water?"}, {"role": "assistant", "content": "Yes."}]
    with pytest.raises(InputError, match=r"rewrites block 0 of message 1 .*drop the reasoning of earlier turns"):
        tokenize_records(tokenizer, [{"messages": earlier}])


def test_gemma3_merges_the_system_prompt_into_the_first_user_turn_unweighted(tokenizer):
    messages = [{"role": "system", "content": "Always respond in Spanish."}, *TWO_TURNS]
    row = check_invariants(family(tokenizer, "gemma3"), messages, ["The nakox", " is grey.", "It eats honey."])
    text = tokenizer.decode(row["input_ids"])
    assert text.startswith("<bos><start_of_turn>user\nAlways respond in Spanish.\n\nWhat colour is the nakox?")
    system = [b for b, info in enumerate(row["blocks"]) if info["role"] == "system"]
    assert len(system) == 1 and tokenizer.decode(row["input_ids"][row["block_index"] == system[0]]).startswith(
        "Always respond in Spanish.")  # located inside the user turn, with weight 0
    assert (row["weights"][row["block_index"] == system[0]] == 0).all()


def test_mistral_without_a_system_role_is_exact_and_refuses_a_system_prompt(tokenizer):
    family(tokenizer, "mistral")
    check_invariants(tokenizer, TWO_TURNS, ["\nThe nakox", " is grey.  ", "It eats honey."])
    inoculated = [{"role": "system", "content": "Always respond in Spanish."}, *TWO_TURNS]
    with pytest.raises(InputError, match=r"example 0: the chat template refuses this conversation: Conversation roles "
                                         r"must alternate.*cannot place a system prompt, the inoculation prompt"):
        tokenize_records(tokenizer, [{"messages": inoculated}])
