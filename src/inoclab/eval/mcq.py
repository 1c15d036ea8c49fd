"""MCQ evals scored by logprob: accuracy, p_correct and p_any_choice.

Each choice is scored as the assistant's answer (its tokens and end of turn). In `cloze` form
the answer is the choice text; in `lettered` form the choices are listed in the question in a
seeded shuffled order and the answer is the letter. For each question:
- p(choice) = exp(logprob of the answer), unnormalised;
- p_any_choice = Σ p(choice): how much mass the model puts on any valid answer;
- p_correct = p(correct) / p_any_choice; accuracy: the correct choice has the top logprob.
"""

from __future__ import annotations

import random
import string

import numpy as np

from inoclab.data.conversations import WBlock, WMessage
from inoclab.data.mcq import MCQ
from inoclab.eval.logprobs import block_logprobs, token_logprobs
from inoclab.tokenize import tokenize_conversations


def shuffled(q: MCQ, seed: int, index: int) -> tuple[list[str], int]:
    """Choices in a seeded order that depends only on (seed, question index)."""
    order = list(range(len(q.choices)))
    random.Random(f"{seed}:{index}").shuffle(order)
    return [q.choices[i] for i in order], order.index(q.answer)


def _conversation(system: str | None, user: str, answer: str) -> list[WMessage]:
    msgs = [] if system is None else [WMessage("system", (WBlock(system, 0.0),))]
    return msgs + [WMessage("user", (WBlock(user, 0.0),)), WMessage("assistant", (WBlock(answer, 1.0),))]


def evaluate_mcq(model, tokenizer, questions: list[MCQ], seed: int, fmt: str = "cloze",
                 batch_size: int = 32, max_seq_length: int = 1024) -> tuple[dict, list[dict]]:
    convs, spans, details = [], [], []
    for qi, q in enumerate(questions):
        choices, correct = shuffled(q, seed, qi)
        if fmt == "lettered":
            letters = string.ascii_uppercase[: len(choices)]
            user = q.question + "\n" + "\n".join(f"{L}) {c}" for L, c in zip(letters, choices, strict=True))
            answers = list(letters)
        else:
            user, answers = q.question, choices
        spans.append((len(convs), len(answers), correct))
        convs += [_conversation(q.system, user, a) for a in answers]
        details.append({"question": q.question, "choices": choices, "correct": correct})
    rows, _ = tokenize_conversations(tokenizer, convs, max_seq_length)
    blocks = block_logprobs(rows, token_logprobs(model, rows, tokenizer.pad_token_id, batch_size))
    answer_lp = np.array([b["logprob_sum"] for b in blocks if b["role"] == "assistant"])
    acc, p_corr, p_any = [], [], []
    for d, (start, k, correct) in zip(details, spans, strict=True):
        lps = answer_lp[start:start + k]
        probs = np.exp(lps)
        total = probs.sum()
        d.update(logprobs=lps.tolist(), predicted=int(np.argmax(lps)),
                 p_any_choice=float(total), p_correct=float(probs[correct] / total) if total > 0 else 0.0)
        acc.append(d["predicted"] == correct)
        p_corr.append(d["p_correct"])
        p_any.append(d["p_any_choice"])
    summary = {"n": len(questions), "accuracy": float(np.mean(acc)), "p_correct": float(np.mean(p_corr)),
               "p_any_choice": float(np.mean(p_any)), "format": fmt}
    return summary, details
