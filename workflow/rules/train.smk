# Fine-tuning: one model folder per experiment.


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
