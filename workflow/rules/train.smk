# Fine-tuning: one model folder per experiment, its train log, and its callbacks/ (always present:
# an index, plus the files of the callbacks the experiment declares).
from inoclab import paths


rule train_experiment:
    input:
        lambda wc: W.planned_deps(P, W.train_stage(P, wc.experiment)),
    output:
        directory(str(paths.model_dir("{experiment}"))),
        directory(str(paths.train_log("{experiment}"))),
        directory(str(paths.callbacks_dir("{experiment}"))),
    log:
        W.log_path("train", "{experiment}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.train_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"
