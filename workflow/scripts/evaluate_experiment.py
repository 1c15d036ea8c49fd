"""Stage: evaluate one trained experiment into results/<experiment>/eval.json."""

import json

from _common import run

from inoclab.eval.run import evaluate_experiment
from inoclab.io import InputError


def main(params, args):
    """Evaluate the experiment named by --experiment."""
    if args.experiment not in params.experiments:
        raise InputError(f"params.yaml: no experiment named {args.experiment!r} under 'experiments'")
    print(json.dumps(evaluate_experiment(params, args.experiment), indent=2))


if __name__ == "__main__":
    run(main, ("--experiment", "name of an experiment declared in params.yaml"))
