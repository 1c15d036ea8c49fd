"""Stage: evaluate one trained experiment into results/<experiment>/eval.json."""

import json

from _common import preload_backend, run

preload_backend()  # unsloth, where chosen, before transformers

from inoclab import workflow
from inoclab.eval.run import evaluate_experiment


def main(params, args):
    """Evaluate the experiment named by --experiment."""
    workflow.experiment(params, args.experiment)  # a clear error for an undeclared name
    print(json.dumps(evaluate_experiment(params, args.experiment), indent=2))


if __name__ == "__main__":
    run(main, ("--experiment", "name of an experiment declared in params.yaml"))
