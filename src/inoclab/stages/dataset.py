"""Stage: build one declared dataset into results/datasets/<name>.jsonl."""



from inoclab.data.builders import build_dataset


def main(params, args):
    """Build the dataset named by --dataset."""
    params.dataset(args.dataset)  # a clear error for an undeclared name
    build_dataset(params, args.dataset)
