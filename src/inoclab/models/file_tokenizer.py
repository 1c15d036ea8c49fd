"""A saved tokenizer read straight from its files, for the tokenize stage: `tokenizer.json`
through the `tokenizers` library and the chat template through transformers' own Jinja renderer
(`render_jinja_template`, what `apply_chat_template` calls), with the special tokens of
`tokenizer_config.json` as the template's variables.

Why: `AutoTokenizer` imports torch and most of transformers, 4-5 s of every tokenize job's start
on 2 cores and more than the tokenization itself; this needs neither. It gives the same text,
ids and offsets as `AutoTokenizer` for a tokenizer whose class takes tokenizer.json as it is
(`TokenizersBackend`, `PreTrainedTokenizerFast`): the ones the pipeline saves itself, the tiny
model's and the embedded models' (tests/test_file_tokenizer.py compares the tokenized rows). A
class that rebuilds its pipeline from the vocabulary (`LlamaTokenizer`, ...) is refused, so a
hub model goes through `AutoTokenizer`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer
from transformers.utils.chat_template_utils import render_jinja_template  # imports no torch

from inoclab.io import InputError

# the classes that use tokenizer.json's pipeline unchanged
PLAIN_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")
_NAMED_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class FileTokenizer:
    """The part of a transformers tokenizer that tokenization uses: `apply_chat_template(...,
    tokenize=False)`, a batched call with character offsets, and `all_special_ids`."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        config_file, json_file = folder / "tokenizer_config.json", folder / "tokenizer.json"
        for f in (config_file, json_file):
            if not f.is_file():
                raise InputError(f"{folder}: no {f.name}: not a saved tokenizer")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if config.get("tokenizer_class") not in PLAIN_CLASSES:
            raise InputError(f"{config_file}: tokenizer_class {config.get('tokenizer_class')!r} may rebuild "
                             f"tokenizer.json's pipeline; only {', '.join(PLAIN_CLASSES)} are read from the files")
        self.special_tokens_map = {k: _content(config[k]) for k in _NAMED_SPECIAL if config.get(k)}
        extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
        extra = [_content(t) for t in (extra.values() if isinstance(extra, dict) else extra)]  # a list, or named
        template_file = folder / "chat_template.jinja"
        self.chat_template = (template_file.read_text(encoding="utf-8") if template_file.is_file()
                              else config.get("chat_template"))
        if isinstance(self.chat_template, list):  # named templates: the default one, as transformers picks
            self.chat_template = {t["name"]: t["template"] for t in self.chat_template}.get("default")
        if not self.chat_template:
            raise InputError(f"{folder}: the tokenizer has no chat template")
        self.backend = Tokenizer.from_file(str(json_file))
        self.backend.no_truncation()  # as transformers does for an untruncated, unpadded call
        self.backend.no_padding()
        ids = [self.backend.token_to_id(t) for t in [*self.special_tokens_map.values(), *extra]]
        self.all_special_ids = list(dict.fromkeys(i for i in ids if i is not None))

    def apply_chat_template(self, conversation: list[dict], tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        if tokenize:
            raise ValueError("FileTokenizer renders text only: tokenize the rendered texts in one batched call")
        rendered, _ = render_jinja_template(conversations=[conversation], chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt, **self.special_tokens_map)
        return rendered[0]

    def __call__(self, texts: list[str], add_special_tokens: bool = False,
                 return_offsets_mapping: bool = False) -> dict[str, list]:
        encodings = self.backend.encode_batch(texts, add_special_tokens=add_special_tokens)
        out = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        return out


def _content(token) -> str:
    return token["content"] if isinstance(token, dict) else token
