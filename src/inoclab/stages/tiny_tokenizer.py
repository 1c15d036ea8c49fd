"""Stage: the tiny model's byte-level BPE tokenizer, trained on the corpus."""


from inoclab import paths
from inoclab.io import atomic_path, iter_jsonl
from inoclab.models.tiny import train_tokenizer


def main(params, args):
    """Write results/tiny/tokenizer/."""
    texts = [m["content"] for _, rec in iter_jsonl(paths.TINY_CORPUS) for m in rec["messages"]]
    tokenizer = train_tokenizer(texts, params.tiny.tokenizer.vocab_size)
    with atomic_path(paths.TINY_TOKENIZER, is_dir=True) as tmp:
        tokenizer.save_pretrained(tmp)
