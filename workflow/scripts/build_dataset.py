"""Stage: build one declared dataset into results/datasets/<name>.jsonl."""

from _common import run

from inoclab import workflow
from inoclab.data.builders import build_dataset


def main(params, args):
    """Build the dataset named by --dataset."""
    workflow.dataset(params, args.dataset)  # a clear error for an undeclared name
    build_dataset(params, args.dataset)


if __name__ == "__main__":
    run(main, ("--dataset", "name of a dataset declared in params.yaml"))
