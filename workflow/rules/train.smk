# Fine-tuning: one model folder per experiment, its train log, and its callbacks/ (always present:
# an index, plus the files of the callbacks the experiment declares).
from inoclab import paths


rule train_experiment:
    input:
        lambda wc: W.train_stage(P, wc.experiment).deps,
    output:
        directory(str(paths.model_dir("{experiment}"))),
        str(paths.train_log("{experiment}")),
        directory(str(paths.callbacks_dir("{experiment}"))),
    log:
        W.log_path("train", "{experiment}"),
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.train_stage(P, wc.experiment)),
        cmd=lambda wc: W.train_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"
