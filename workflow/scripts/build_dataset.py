"""Stage: build one declared dataset into results/datasets/<name>.jsonl."""

from _common import run

from inoclab.data.builders import build_dataset
from inoclab.io import InputError


def main(params, args):
    """Build the dataset named by --dataset."""
    if args.dataset not in params.datasets:
        raise InputError(f"params.yaml: no dataset named {args.dataset!r} under 'datasets'")
    build_dataset(params, args.dataset)


if __name__ == "__main__":
    run(main, ("--dataset", "name of a dataset declared in params.yaml"))
