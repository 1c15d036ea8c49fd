# Fine-tuning: one model folder per experiment; experiments with callbacks also write callbacks/
# (a rule of their own, as outputs cannot vary by wildcard).

ruleorder: train_watched_experiment > train_experiment


rule train_experiment:
    input:
        lambda wc: W.train_stage(P, wc.experiment).deps,
    output:
        directory("results/{experiment}/model"),
        "results/{experiment}/train_log.csv",
    log:
        "logs/train/{experiment}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.train_stage(P, wc.experiment)),
        cmd=lambda wc: W.train_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"


rule train_watched_experiment:
    input:
        lambda wc: W.train_stage(P, wc.experiment).deps,
    output:
        directory("results/{experiment}/model"),
        "results/{experiment}/train_log.csv",
        directory("results/{experiment}/callbacks"),
    wildcard_constraints:
        experiment=W.watched_experiments_pattern(P),
    log:
        "logs/train/{experiment}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.train_stage(P, wc.experiment)),
        cmd=lambda wc: W.train_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"
