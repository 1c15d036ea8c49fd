"""Stage: tokenize one dataset for the base model (block weights, truncation reported)."""

from _common import run
from transformers import AutoTokenizer

from inoclab import paths, workflow
from inoclab.tokenize import tokenize_file, write_tokenized


def main(params, args):
    """Write results/tokenized/<model>/<dataset>.parquet and its .stats.json."""
    workflow.dataset(params, args.dataset)  # a clear error for an undeclared name
    tokenizer = AutoTokenizer.from_pretrained(workflow.base_model_ref(params))
    t = params.tokenize
    rows, stats = tokenize_file(tokenizer, paths.dataset(args.dataset), t.max_seq_length, t.train_on_responses_only,
                                 preference=params.is_preference(args.dataset))
    write_tokenized(rows, stats, paths.tokenized(params.model_slug, args.dataset))


if __name__ == "__main__":
    run(main, ("--dataset", "name of a dataset declared in params.yaml"))
