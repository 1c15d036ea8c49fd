# Datasets (results/datasets/) and their tokenization per base model (results/tokenized/).


rule build_dataset:
    input:
        lambda wc: W.dataset_stage(P, wc.dataset).deps,
    output:
        "results/datasets/{dataset}.jsonl",
    log:
        "logs/dataset/{dataset}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.dataset_stage(P, wc.dataset)),
        cmd=lambda wc: W.dataset_stage(P, wc.dataset).cmd,
    shell:
        "{params.cmd}"


rule tokenize_dataset:
    input:
        lambda wc: W.tokenize_stage(P, wc.dataset).deps,
    output:
        "results/tokenized/{model}/{dataset}.parquet",
        "results/tokenized/{model}/{dataset}.stats.json",
    wildcard_constraints:
        model=re.escape(P.model_slug),  # tokenized for the base model params.yaml names
    log:
        "logs/tokenize/{model}/{dataset}.log",
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.tokenize_stage(P, wc.dataset)),
        cmd=lambda wc: W.tokenize_stage(P, wc.dataset).cmd,
    shell:
        "{params.cmd}"
