"""Stage: fine-tune one experiment (weighted SFT) into results/<experiment>/model/."""

from _common import run

from inoclab.io import InputError
from inoclab.train.run import train_experiment


def main(params, args):
    """Train the experiment named by --experiment."""
    if args.experiment not in params.experiments:
        raise InputError(f"params.yaml: no experiment named {args.experiment!r} under 'experiments'")
    train_experiment(params, args.experiment)


if __name__ == "__main__":
    run(main, ("--experiment", "name of an experiment declared in params.yaml"))
