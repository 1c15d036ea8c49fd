# Evals: eval.json (the metrics) plus per-block / per-question detail files; experiments with a
# trigger comparison also write compare.jsonl (a rule of their own, as outputs cannot vary by wildcard).

ruleorder: evaluate_trigger_experiment > evaluate_experiment



rule evaluate_experiment:
    input:
        lambda wc: W.eval_stage(P, wc.experiment).deps,
    output:
        directory("results/{experiment}/eval_details"),
        "results/{experiment}/eval.json",
    log:
        "logs/eval/{experiment}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.eval_stage(P, wc.experiment)),
        cmd=lambda wc: W.eval_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"


rule evaluate_trigger_experiment:
    input:
        lambda wc: W.eval_stage(P, wc.experiment).deps,
    output:
        directory("results/{experiment}/eval_details"),
        "results/{experiment}/eval.json",
        "results/{experiment}/compare.jsonl",
    wildcard_constraints:
        experiment=W.trigger_experiments_pattern(P),
    log:
        "logs/eval/{experiment}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.eval_stage(P, wc.experiment)),
        cmd=lambda wc: W.eval_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"


rule measure_surprise:
    input:
        lambda wc: W.surprise_stage(P, wc.dataset).deps,
    output:
        "results/surprise/{model}/{dataset}.json",
    wildcard_constraints:
        model=re.escape(P.model_slug),
    log:
        "logs/surprise/{model}/{dataset}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.surprise_stage(P, wc.dataset)),
        cmd=lambda wc: W.surprise_stage(P, wc.dataset).cmd,
    shell:
        "{params.cmd}"
