"""Stage: fine-tune one experiment (weighted SFT) into results/<experiment>/model/."""

from _common import preload_backend, run

preload_backend()  # unsloth, where chosen, before transformers

from inoclab import workflow
from inoclab.train.run import train_experiment


def main(params, args):
    """Train the experiment named by --experiment."""
    workflow.experiment(params, args.experiment)  # a clear error for an undeclared name
    train_experiment(params, args.experiment)


if __name__ == "__main__":
    run(main, ("--experiment", "name of an experiment declared in params.yaml"))
