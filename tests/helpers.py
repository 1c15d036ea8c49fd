"""Small builders shared by tests (real data through the project's own tokenizer path)."""

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
