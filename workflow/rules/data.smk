# Datasets (results/datasets/) and their tokenization per base model (results/tokenized/).
from inoclab import paths


rule build_dataset:
    input:
        lambda wc: W.planned_deps(P, W.dataset_stage(P, wc.dataset)),
    output:
        str(paths.dataset("{dataset}")),
    log:
        W.log_path("dataset", "{dataset}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.dataset_stage(P, wc.dataset).cmd,
    shell:
        "{params.cmd}"


rule tokenize_dataset:
    input:
        lambda wc: W.planned_deps(P, W.tokenize_stage(P, P.model_named(wc.model), wc.dataset)),
    output:
        str(paths.tokenized("{model}", "{dataset}")),
        str(paths.tokenize_stats("{model}", "{dataset}")),
    wildcard_constraints:
        model=MODELS,  # the base models the runs of params.yaml use
    log:
        W.log_path("tokenize", "{model}/{dataset}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.tokenize_stage(P, P.model_named(wc.model), wc.dataset).cmd,
    shell:
        "{params.cmd}"
