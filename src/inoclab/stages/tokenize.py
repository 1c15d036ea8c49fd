"""Stage: tokenize one dataset for the base model (block weights, truncation reported)."""

from transformers import AutoTokenizer

from inoclab import paths
from inoclab.tokenize import tokenize_file, write_tokenized


def main(params, args):
    """Write results/tokenized/<model>/<dataset>.parquet and its .stats.json."""
    params = params.for_model(args.model)
    params.dataset(args.dataset)  # a clear error for an undeclared name
    tokenizer = AutoTokenizer.from_pretrained(params.base_model_ref)
    t = params.tokenize
    rows, stats = tokenize_file(tokenizer, paths.dataset(args.dataset), t.max_seq_length, t.train_on_responses_only,
                                 preference=params.is_preference(args.dataset))
    write_tokenized(rows, stats, paths.tokenized(params.model_slug, args.dataset))
