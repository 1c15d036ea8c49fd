"""Stage: tokenize one dataset for the base model (block weights, truncation reported).

The tokenizers the pipeline saves itself (the tiny model's, an embedded model's) are read from
their files without torch (models/file_tokenizer.py): a tokenize job starts in about a second,
and the tiny model's data is tokenized from the tokenizer stage's folder, beside pretraining
rather than after it. Any other model's tokenizer is loaded by AutoTokenizer."""

from inoclab import paths
from inoclab.models.file_tokenizer import FileTokenizer
from inoclab.tokenize import tokenize_file, write_tokenized


def tokenizer_folder(params) -> str | None:
    """Where the tokenize stage reads the tokenizer from its files, or None (AutoTokenizer)."""
    if params.is_tiny:
        return str(paths.TINY_TOKENIZER)
    return params.base_model_ref if params.is_embedded else None


def main(params, args):
    """Write results/tokenized/<model>/<dataset>.parquet and its .stats.json."""
    params = params.for_model(args.model)
    params.dataset(args.dataset)  # a clear error for an undeclared name
    folder = tokenizer_folder(params)
    if folder is not None:
        tokenizer = FileTokenizer(folder)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(params.base_model_ref)
    t = params.tokenize
    rows, stats = tokenize_file(tokenizer, paths.dataset(args.dataset), t.max_seq_length, t.train_on_responses_only,
                                 preference=params.is_preference(args.dataset))
    write_tokenized(rows, stats, paths.tokenized(params.model_slug, args.dataset))
