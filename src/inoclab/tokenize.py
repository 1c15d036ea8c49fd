"""Block-weighted tokenization: one render and one tokenizer call, weights by character offset.

How a conversation becomes (input_ids, weights):
1. The chat template is rendered twice per conversation, once with the real contents and once
   with a unique marker in place of each message's content. The markers say exactly where the
   template puts each content; substituting the real contents back reproduces the real render
   for templates that write contents verbatim (ChatML, SmolLM2's default system prompt,
   Gemma's system prompt merged into the first user turn). Templates that change contents are
   aligned character by character: stripping whitespace at message ends (Llama 3, Gemma) and
   rewriting an assistant turn's think block (Qwen3) are exact, the stripped whitespace carrying
   no weight; anything else that changes a block (a rewritten word, dropped reasoning) and a
   template that refuses the conversation (no system role) are one clear error naming the
   example. This is linear in the number of blocks, not one render per block.
2. All rendered texts are tokenized in one batched call with character offsets.
3. Each token takes the weight of the block holding its last character; template tokens get 0.
   A token that straddles two blocks (a boundary inside a word) is counted and reported.
4. End of turn: the special token that closes an assistant message (`<|im_end|>`,
   `<|eot_id|>`, ...) carries the weight of that message's last block, so the model learns
   (or, with a negative weight, unlearns) to stop where the response stops. Padding never
   carries weight, so a pad token equal to EOS cannot erase it.
5. Sequences longer than `max_seq_length` are cut on the right; cut examples and the weighted
   tokens they lose are counted and reported, never silent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from inoclab.data.conversations import WMessage, normalize, read_conversations
from inoclab.data.preference import preference_conversations
from inoclab.io import InputError, atomic_path, write_json

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True)
class BlockInfo:
    message: int
    role: str
    text: str
    weight: float
    tag: str | None


@dataclass
class TokenizeStats:
    examples: int = 0
    tokens: int = 0
    weighted_tokens: int = 0
    straddling_tokens: int = 0
    truncated_examples: int = 0
    truncated_weighted_tokens: int = 0
    truncated_lines: list[int] = field(default_factory=list)
    # examples with no trained token (no weighted token after the first): prompts, or an answer
    # that truncation cut away; a training run refuses data made only of these (check_trainable)
    untrained_examples: int = 0
    untrained_lines: list[int] = field(default_factory=list)


def _as_template_messages(messages: list[WMessage], contents: list[str]) -> list[dict]:
    return [{"role": m.role, "content": c} for m, c in zip(messages, contents, strict=True)]


def _apply(tokenizer, messages: list[WMessage], contents: list[str], where: str, add_generation_prompt: bool) -> str:
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(_as_template_messages(messages, contents), tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    except TemplateError as e:
        hint = ""
        if any(m.role == "system" for m in messages):
            hint = (" (a template without a system role cannot place a system prompt, the inoculation prompt "
                    "included: put it in the user turn with a dataset of its own)")
        raise InputError(f"{where}: the chat template refuses this conversation: {e}{hint}") from None


def render(tokenizer, messages: list[WMessage], where: str = "", add_generation_prompt: bool = False):
    """Render with the chat template; return the text and each block's (start, end) char span."""
    real = _apply(tokenizer, messages, [m.content for m in messages], where, add_generation_prompt)
    markers = [f"{_MARK_OPEN}{i}{_MARK_CLOSE}" for i in range(len(messages))]
    marked = _apply(tokenizer, messages, markers, where, add_generation_prompt)
    naive, owner, cursor, block = [], [], 0, 0  # the template's text, the contents in place of the markers
    for i, (m, mark) in enumerate(zip(messages, markers, strict=True)):
        pos = marked.find(mark, cursor)
        if pos < 0:
            raise InputError(f"{where}: the chat template drops the content of message {i} ({m.role})")
        naive.append(marked[cursor:pos])
        owner += [-1] * (pos - cursor)
        for b in m.blocks:
            naive.append(b.text)
            owner += [block] * len(b.text)
            block += 1
        cursor = pos + len(mark)
    naive.append(marked[cursor:])
    owner += [-1] * (len(marked) - cursor)
    text = "".join(naive)
    owner_real = np.asarray(owner, dtype=np.int64) if text == real else _align(text, owner, real)
    return real, _block_spans(messages, owner_real, real, where)


def _align(naive: str, owner: list[int], real: str) -> np.ndarray:
    """Which block each character of the real render comes from, where the template changed the
    contents (stripped whitespace at message ends: Llama 3, Gemma; wrote its own think block
    before an assistant turn: Qwen3): the matching characters of the render with the contents
    put in verbatim and the real render. _block_spans checks what the template did to each block."""
    import difflib

    out = np.full(len(real), -1, dtype=np.int64)
    src = np.asarray(owner, dtype=np.int64)
    for a, b, size in difflib.SequenceMatcher(None, naive, real, autojunk=False).get_matching_blocks():
        out[b:b + size] = src[a:a + size]
    return out


def _block_spans(messages: list[WMessage], owner: np.ndarray, real: str, where: str) -> list[list[tuple[int, int]]]:
    """Each block's span in the real render. A block must be written whole and in one piece; the
    template may only strip whitespace at its ends, which then carries no weight."""
    spans, k, end = [], 0, 0
    for i, m in enumerate(messages):
        message_spans = []
        for j, b in enumerate(m.blocks):
            pos = np.nonzero(owner == k)[0]
            k += 1
            if pos.size and pos[-1] - pos[0] + 1 != pos.size:
                raise InputError(f"{where}: the chat template inserts text inside block {j} of message {i} ({m.role}), "
                                 f"so its tokens cannot carry its weight exactly{_reasoning_hint(m)}")
            start, stop = (int(pos[0]), int(pos[-1]) + 1) if pos.size else (end, end)
            at = b.text.find(real[start:stop]) if stop > start else 0
            # text of the block's own that the template also writes (Qwen3's think tags), matched to
            # the template in the alignment, belongs to the block; whitespace alone stays stripped
            if b.text[:at].strip() and real[max(0, start - at):start] == b.text[:at] and (owner[start - at:start] < 0).all():
                start, at = start - at, 0
            rest = b.text[at + stop - start:]
            if rest.strip() and real[stop:stop + len(rest)] == rest and (owner[stop:stop + len(rest)] < 0).all():
                stop += len(rest)
            kept = real[start:stop]
            if b.text[:at].strip() or b.text[at + len(kept):].strip():
                raise InputError(
                    f"{where}: the chat template rewrites block {j} of message {i} ({m.role}) beyond stripping "
                    f"whitespace at its ends (of {b.text!r} it writes {kept!r} verbatim){_reasoning_hint(m)}")
            end = stop
            message_spans.append((start, stop))
        spans.append(message_spans)
    return spans


def _reasoning_hint(m: WMessage) -> str:
    if "</think>" not in m.content:
        return ""
    return (" (reasoning: write it as the template does, `<think>\\n...\\n</think>\\n\\n` then the answer, in the "
            "last assistant turn; templates such as Qwen3's drop the reasoning of earlier turns)")


def tokenize_conversations(
    tokenizer, conversations: list[list[WMessage]], max_seq_length: int,
    where: list[str] | None = None,
) -> tuple[list[dict], TokenizeStats]:
    """Tokenize many conversations in one batched call; return rows and statistics."""
    where = where or [f"example {i}" for i in range(len(conversations))]
    texts, spans_all = [], []
    for conv, w in zip(conversations, where, strict=True):
        text, spans = render(tokenizer, conv, w)
        texts.append(text)
        spans_all.append(spans)
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    special_ids = set(tokenizer.all_special_ids)
    stats = TokenizeStats()
    rows = []
    for conv, text, spans, ids, offsets, w in zip(
        conversations, texts, spans_all, enc["input_ids"], enc["offset_mapping"], where, strict=True
    ):
        blocks, char_block = [], np.full(len(text) + 1, -1, dtype=np.int64)
        ends_of_assistant: dict[int, int] = {}  # char offset where an assistant content ends -> block
        for mi, (m, bspans) in enumerate(zip(conv, spans, strict=True)):
            for b, (s, e) in zip(m.blocks, bspans, strict=True):
                char_block[s:e] = len(blocks)
                blocks.append(BlockInfo(mi, m.role, b.text, b.weight, b.tag))
            if m.role == "assistant" and m.blocks:
                ends_of_assistant[bspans[-1][1]] = len(blocks) - 1
        off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        starts, ends = off[:, 0], off[:, 1]
        nonempty = ends > starts
        last_char = np.where(nonempty, ends - 1, starts)
        tok_block = np.where(nonempty, char_block[last_char], -1)
        first_block = np.where(nonempty, char_block[starts], -1)
        stats.straddling_tokens += int(np.sum(nonempty & (first_block != tok_block)))
        ids_arr = np.asarray(ids, dtype=np.int64)
        for t in range(len(ids_arr)):  # end-of-turn tokens: few per conversation
            if tok_block[t] == -1 and int(starts[t]) in ends_of_assistant and int(ids_arr[t]) in special_ids:
                tok_block[t] = ends_of_assistant.pop(int(starts[t]))
        block_w = np.array([b.weight for b in blocks] + [0.0], dtype=np.float32)
        weights = block_w[tok_block]  # index -1 -> the trailing 0.0
        n, lost = len(ids_arr), 0
        if n > max_seq_length:
            lost = int(np.count_nonzero(weights[max_seq_length:]))
            stats.truncated_examples += 1
            stats.truncated_weighted_tokens += lost
            stats.truncated_lines.append(w)
            ids_arr, weights, tok_block = (a[:max_seq_length] for a in (ids_arr, weights, tok_block))
        stats.examples += 1
        stats.tokens += len(ids_arr)
        stats.weighted_tokens += int(np.count_nonzero(weights))
        rows.append({
            "input_ids": ids_arr.astype(np.int32),
            "weights": weights.astype(np.float32),
            "block_index": tok_block.astype(np.int32),
            "blocks": [asdict(b) for b in blocks],
            "cut_weighted_tokens": lost,
        })
        if not trained_tokens(rows[-1]):
            stats.untrained_examples += 1
            stats.untrained_lines.append(w)
    return rows, stats


def tokenize_file(tokenizer, path: str | Path, max_seq_length: int, train_on_responses_only: bool,
                  preference: bool = False):
    """Read a conversations JSONL (either format), tokenize it; rows carry their source line.
    A preference JSONL gives two rows per pair: the chosen and the rejected response, tagged."""
    records = preference_conversations(path) if preference else read_conversations(path)
    convs = [normalize(c, train_on_responses_only) for _, c in records]
    where = [f"{path}:{ln}" for ln, _ in records]
    rows, stats = tokenize_conversations(tokenizer, convs, max_seq_length, where)
    for (ln, rec), row in zip(records, rows, strict=True):
        row["line"] = ln
        row["meta"] = json.dumps(rec.meta, sort_keys=True)
    return rows, stats


_SCHEMA = pa.schema([
    ("line", pa.int32()),
    ("input_ids", pa.list_(pa.int32())),
    ("weights", pa.list_(pa.float32())),
    ("block_index", pa.list_(pa.int32())),
    ("blocks", pa.string()),
    ("meta", pa.string()),
    ("cut_weighted_tokens", pa.int32()),  # weighted tokens max_seq_length cut from the example
])


def write_tokenized(rows: list[dict], stats: TokenizeStats, out: str | Path) -> None:
    """The parquet artefact plus `<name>.stats.json` beside it; both atomic."""
    out = Path(out)
    table = pa.table({
        "line": [r["line"] for r in rows],
        "input_ids": [r["input_ids"] for r in rows],
        "weights": [r["weights"] for r in rows],
        "block_index": [r["block_index"] for r in rows],
        "blocks": [json.dumps(r["blocks"], ensure_ascii=False) for r in rows],
        "meta": [r["meta"] for r in rows],
        "cut_weighted_tokens": [r["cut_weighted_tokens"] for r in rows],
    }, schema=_SCHEMA)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    write_json(out.with_suffix(".stats.json"), asdict(stats))
    if stats.truncated_examples:
        print(
            f"warning: {out}: {stats.truncated_examples} example(s) longer than max_seq_length were "
            f"cut, losing {stats.truncated_weighted_tokens} weighted token(s); lines: "
            f"{', '.join(map(str, stats.truncated_lines[:10]))}", file=sys.stderr,
        )


def read_tokenized(path: str | Path) -> list[dict]:
    """Rows of a tokenized artefact, arrays as numpy."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: tokenized data not found (build it first)")
    table = pq.read_table(path)
    out = []
    for r in table.to_pylist():
        out.append({
            "line": r["line"],
            "input_ids": np.asarray(r["input_ids"], dtype=np.int64),
            "weights": np.asarray(r["weights"], dtype=np.float32),
            "block_index": np.asarray(r["block_index"], dtype=np.int64),
            "blocks": json.loads(r["blocks"]),
            "meta": json.loads(r["meta"]),
            "cut_weighted_tokens": r["cut_weighted_tokens"],
        })
    return out


def trained_tokens(row: dict) -> int:
    """Tokens the example trains: weighted tokens after the first (position t predicts t + 1)."""
    return int(np.count_nonzero(row["weights"][1:]))


def scored_tokens(row: dict) -> int:
    """Tokens a logprob eval scores: block tokens after the first."""
    return int(np.count_nonzero(row["block_index"][1:] >= 0))


def describe_dataset(dataset: str, source: str | Path, tokenized: str | Path) -> str:
    """How errors about a tokenized dataset name it: its name, its file, its tokenized file."""
    return f"dataset {dataset!r} ({source}, tokenized in {tokenized})"


def check_trainable(rows: list[dict], dataset: str, source: str | Path, tokenized: str | Path) -> None:
    """Before a model is loaded for training: data with nothing to train is an error, naming
    the dataset, its file and lines; examples without a trained token are warned about.
    `source` is the conversations file whose lines the rows carry."""
    where = describe_dataset(dataset, source, tokenized)
    if not rows:
        raise InputError(f"{where}: no examples to train on")
    untrained = [r for r in rows if not trained_tokens(r)]
    cut = [r["line"] for r in untrained if r.get("cut_weighted_tokens")]
    if cut:
        raise InputError(f"{where}: tokenize.max_seq_length cuts away every weighted token of {len(cut)} "
                         f"example(s), at {source} lines {_lines(cut)}: raise max_seq_length or shorten them")
    if len(untrained) == len(rows):
        raise InputError(f"{where}: no example has a trained token (an assistant block with a non-zero weight "
                         f"after the first token), lines {_lines([r['line'] for r in rows])}: it would train nothing")
    if untrained:
        print(f"warning: {where}: {len(untrained)} of {len(rows)} example(s) have no trained token and train "
              f"nothing, lines {_lines([r['line'] for r in untrained])}", file=sys.stderr)


def _lines(lines: list, shown: int = 10) -> str:
    more = f" and {len(lines) - shown} more" if len(lines) > shown else ""
    return ", ".join(map(str, lines[:shown])) + more
