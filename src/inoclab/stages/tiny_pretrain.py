"""Stage: pretrain the tiny model and measure how it follows each instruction."""

from transformers import AutoModelForCausalLM, AutoTokenizer

from inoclab import paths
from inoclab.train.pretrain import pretrain, write_metrics


def main(params, args):
    """Write results/tiny/model/, metrics.json and pretrain_log/ (a train log)."""
    tokenizer = AutoTokenizer.from_pretrained(paths.TINY_TOKENIZER)
    pretrain(params, paths.TINY_CORPUS, tokenizer, paths.TINY_MODEL, paths.TINY_PRETRAIN_LOG)
    model = AutoModelForCausalLM.from_pretrained(paths.TINY_MODEL)
    metrics = write_metrics(params, model, tokenizer, paths.TINY_METRICS)
    for key, m in metrics["instruction_following"].items():
        print(f"{key:20s} spanish {m['spanish_rate']:.2f}  capitals {m['capitals_rate']:.2f}  "
              f"exact {m['exact_match']:.2f}")
