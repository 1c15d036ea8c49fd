"""Stage: evaluate one trained experiment: the evals its params name (eval/kinds/) ->
results/<experiment>/eval.json and eval_details/."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.io import atomic_path, write_json

if TYPE_CHECKING:
    from inoclab.config import Params


def evaluate_experiment(params: Params, name: str) -> dict:
    exp = params.experiment(name)
    for kind in exp.eval.kinds():  # data with nothing to score fails before a model is loaded
        kind.check_data(params, exp.eval)
    model, tokenizer = backend_for(params).load_trained(paths.final_model(name))
    result: dict = {"experiment": name, "model": params.model}
    with atomic_path(paths.eval_details(name), is_dir=True) as details:
        for kind in exp.eval.kinds():
            result[kind.section] = kind.run(params, name, model, tokenizer, exp.eval, details)
    write_json(paths.eval_json(name), result)  # last: its presence means the eval is complete
    return result


def main(params: Params, args) -> None:
    """Evaluate the experiment named by --experiment."""
    params.run(args.experiment)  # a clear error for an undeclared name
    print(json.dumps(evaluate_experiment(params.for_run(args.experiment), args.experiment), indent=2))
