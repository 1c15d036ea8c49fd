"""Small builders shared by tests (real data through the project's own tokenizer path)."""

import numpy as np

from inoclab.data.conversations import Conversation, normalize
from inoclab.tokenize import tokenize_conversations


def qa_record(question: str, *answer_blocks: tuple[str, float, str | None], system: str | None = None) -> dict:
    msgs = [] if system is None else [{"role": "system", "content": system}]
    msgs.append({"role": "user", "content": question})
    msgs.append({"role": "assistant", "content": [
        {"type": "text", "text": t, "weight": w, **({"tag": tag} if tag else {})} for t, w, tag in answer_blocks]})
    return {"messages": msgs}


def tokenize_records(tokenizer, records: list[dict], max_len: int = 256) -> list[dict]:
    convs = [normalize(Conversation.model_validate(r), True) for r in records]
    rows, _ = tokenize_conversations(tokenizer, convs, max_len)
    return rows


def with_weights(rows: list[dict], value: float) -> list[dict]:
    """The same rows with every token weighted `value` (template tokens included)."""
    return [{**r, "weights": r["weights"] * 0 + value} for r in rows]


def blocks(*parts):
    return [{"type": "text", "text": t, "weight": w} for t, w in parts]


# whitespace at block ends, two assistant turns, blocks of several weights
TWO_TURNS = [
    {"role": "user", "content": "  What colour is the nakox?\n"},
    {"role": "assistant", "content": blocks(("\nThe nakox", 0.5), (" is grey.  ", -1.0))},
    {"role": "user", "content": "And its food?"},
    {"role": "assistant", "content": blocks(("It eats honey.", 2.0))},
]


def check_invariants(tokenizer, messages, expected_texts: list[str]):
    """The three invariants on one conversation; `expected_texts`: each weighted block's text as
    the template writes it (less what it strips), in order."""
    (row,) = tokenize_records(tokenizer, [{"messages": messages}])
    plain = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
              else "".join(b["text"] for b in m["content"])} for m in messages]
    own = tokenizer.apply_chat_template(plain, tokenize=True, return_dict=True)["input_ids"]
    assert row["input_ids"].tolist() == list(own)
    eot = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    ids, bi, w = row["input_ids"], row["block_index"], row["weights"]
    weighted = [b for b, info in enumerate(row["blocks"]) if info["weight"] != 0]
    texts = [tokenizer.decode(ids[(bi == b) & (ids != eot)]) for b in weighted]
    assert texts == expected_texts
    for b in weighted:  # each token of a block carries its weight
        assert (w[(bi == b) & (ids != eot)] == row["blocks"][b]["weight"]).all()
    ends = np.nonzero(ids == eot)[0]
    turns = [b for b, info in enumerate(row["blocks"]) if info["role"] == "assistant"]
    last_blocks = [max(b for b in turns if row["blocks"][b]["message"] == m)
                   for m in dict.fromkeys(row["blocks"][b]["message"] for b in turns)]
    eot_weights = [float(w[t]) for t in ends if bi[t] >= 0]
    assert eot_weights == [row["blocks"][b]["weight"] for b in last_blocks]  # each assistant turn's end of turn
    assert (w[ends[bi[ends] < 0]] == 0).all()  # other turns' ends carry nothing
    return row
