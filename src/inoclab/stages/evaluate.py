"""Stage: evaluate one trained experiment: the evals its params name -> results/<experiment>/eval.json."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from inoclab import paths
from inoclab.backends import backend_for
from inoclab.data.mcq import read_mcq
from inoclab.eval.circuit_breaker import circuit_breaker_eval
from inoclab.eval.inoculation import trait_eval
from inoclab.eval.logprobs import block_logprobs, summarize_blocks, token_logprobs, token_records
from inoclab.eval.mcq import evaluate_mcq
from inoclab.eval.preference import preference_eval
from inoclab.eval.trigger import trigger_eval
from inoclab.io import atomic_path, write_json, write_jsonl
from inoclab.tokenize import read_tokenized

if TYPE_CHECKING:
    from inoclab.config import Params


def evaluate_experiment(params: Params, name: str) -> dict:
    exp = params.experiment(name)
    model, tokenizer = backend_for(params).load_trained(paths.final_model(name))
    result: dict = {"experiment": name, "logprobs": {}, "mcq": {}}
    if exp.eval.preference:
        result["preference"] = {}
    with atomic_path(paths.eval_details(name), is_dir=True) as details:
        if exp.eval.trait is not None:
            result["trait"], trait_details = trait_eval(params, model, tokenizer, exp.eval.trait)
            for fname, records in trait_details.items():
                write_jsonl(details / fname, records)
        if exp.eval.circuit_breaker is not None:
            result["circuit_breaker"], records = circuit_breaker_eval(params, name, model, tokenizer,
                                                                      exp.eval.circuit_breaker)
            write_jsonl(details / "circuit_breaker.jsonl", records)
        if exp.eval.trigger is not None:
            result["trigger"], records = trigger_eval(params, name, model, tokenizer, exp.eval.trigger)
            write_jsonl(paths.compare_jsonl(name), records)
        for ds in exp.eval.logprobs:
            rows = read_tokenized(paths.tokenized(params.model_slug, ds))
            lps = token_logprobs(model, rows, tokenizer.pad_token_id, exp.eval.batch_size)
            blocks = block_logprobs(rows, lps)
            result["logprobs"][ds] = summarize_blocks(blocks)
            write_jsonl(details / f"logprobs.{ds}.blocks.jsonl", blocks)
            pq.write_table(pa.Table.from_pylist(token_records(rows, lps, tokenizer)),
                           details / f"logprobs.{ds}.tokens.parquet", compression="zstd")
        for ds in exp.eval.mcq:
            questions = [q for _, q in read_mcq(paths.dataset(ds))]
            summary, detail = evaluate_mcq(model, tokenizer, questions, params.seed, exp.eval.mcq_format,
                                           exp.eval.batch_size, params.tokenize.max_seq_length)
            result["mcq"][ds] = summary
            write_jsonl(details / f"mcq.{ds}.jsonl", detail)
        for ds in exp.eval.preference:
            rows = read_tokenized(paths.tokenized(params.model_slug, ds))
            result["preference"][ds], records = preference_eval(model, rows, tokenizer.pad_token_id,
                                                                exp.eval.batch_size)
            write_jsonl(details / f"preference.{ds}.jsonl", records)
    write_json(paths.eval_json(name), result)  # last: its presence means the eval is complete
    return result


def main(params: Params, args) -> None:
    """Evaluate the experiment named by --experiment."""
    params.run(args.experiment)  # a clear error for an undeclared name
    print(json.dumps(evaluate_experiment(params, args.experiment), indent=2))
