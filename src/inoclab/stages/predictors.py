"""Stage: the predictor battery of a base model at a paired dataset (eval/predictors.py): uplift,
drift on the report's control pairs, elicitation -> results/predictors/<model>/<dataset>.json."""

import json

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.data.builders.paired import PairedDataset
from inoclab.eval.predictors import predictor_battery
from inoclab.io import InputError, write_json
from inoclab.report import predictor_trait_eval
from inoclab.tokenize import read_tokenized
from inoclab.train.paired import validate_token_pairs


def _pairs(params, dataset: str) -> list[dict]:
    tokenized = paths.tokenized(params.model_slug, dataset)
    rows = read_tokenized(tokenized)
    validate_token_pairs(rows, str(tokenized))
    return rows


def main(params, args):
    """Measure the predictors of the paired dataset named by --dataset for --model."""
    trait = predictor_trait_eval(params, args.model, args.dataset)  # before for_model: the families' own models
    params = params.for_model(args.model)
    cfg = params.dataset(args.dataset)
    if not isinstance(cfg, PairedDataset):
        raise InputError(f"params.yaml: datasets.{args.dataset}: the predictors need a dataset with builder paired")
    rows = _pairs(params, args.dataset)  # read and checked before the model is loaded
    control = params.report.inoculation.control if params.report.inoculation else None
    control_rows = _pairs(params, control) if control else None
    model, tokenizer = backend_for(params).load(params.base_model_ref)
    result = {"dataset": args.dataset, "model": params.model, "inoculation_prompt": cfg.inoculation_prompt,
              "control": control, **predictor_battery(params, model, tokenizer, rows, control_rows, trait)}
    write_json(paths.predictors(params.model_slug, args.dataset), result)
    print(json.dumps(result, indent=2))
