"""Stage: the base model's "surprise" at a paired dataset (logprob uplift of its responses
when the inoculation prompt is added) -> results/surprise/<model>/<dataset>.json."""

import json

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.data.builders.paired import PairedDataset
from inoclab.eval.inoculation import surprise
from inoclab.io import InputError, write_json
from inoclab.tokenize import read_tokenized
from inoclab.train.paired import validate_token_pairs


def main(params, args):
    """Measure the surprise of the paired dataset named by --dataset."""
    params = params.for_model(args.model)
    cfg = params.dataset(args.dataset)
    if not isinstance(cfg, PairedDataset):
        raise InputError(f"params.yaml: datasets.{args.dataset}: surprise needs a dataset with builder paired")
    tokenized = paths.tokenized(params.model_slug, args.dataset)
    rows = read_tokenized(tokenized)
    validate_token_pairs(rows, str(tokenized))
    model, tokenizer = backend_for(params).load(params.base_model_ref)
    result = {"dataset": args.dataset, "model": params.model, "inoculation_prompt": cfg.inoculation_prompt,
              **surprise(model, rows, tokenizer.pad_token_id, params.bootstrap)}
    write_json(paths.surprise(params.model_slug, args.dataset), result)
    print(json.dumps(result, indent=2))
