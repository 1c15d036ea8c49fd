# Evals: eval.json (the metrics) plus per-block / per-question detail files.


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
