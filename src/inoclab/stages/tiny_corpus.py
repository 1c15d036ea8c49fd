"""Stage: the seeded synthetic instruction corpus of the tiny model."""


from inoclab import paths
from inoclab.data.corpus import build_corpus
from inoclab.data.world import world_of
from inoclab.io import write_jsonl


def main(params, args):
    """Write results/tiny/corpus.jsonl."""
    write_jsonl(paths.TINY_CORPUS, build_corpus(world_of(params), params.tiny.corpus, params.seed))
