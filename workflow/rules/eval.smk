# Evals: eval.json (the metrics) plus the per-block, per-question and per-prompt files of each
# eval in eval_details/; the base model's predictors at paired datasets.
from inoclab import paths


rule evaluate_experiment:
    input:
        lambda wc: W.planned_deps(P, W.eval_stage(P, wc.experiment)),
    output:
        directory(str(paths.eval_details("{experiment}"))),
        str(paths.eval_json("{experiment}")),
    log:
        W.log_path("eval", "{experiment}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.eval_stage(P, wc.experiment).cmd,
    threads: workflow.cores
    shell:
        "{params.cmd}"


rule measure_predictors:
    input:
        lambda wc: W.planned_deps(P, W.predictors_stage(P, P.model_named(wc.model), wc.dataset)),
    output:
        str(paths.predictors("{model}", "{dataset}")),
    wildcard_constraints:
        model=MODELS,
    log:
        W.log_path("predictors", "{model}/{dataset}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.predictors_stage(P, P.model_named(wc.model), wc.dataset).cmd,
    shell:
        "{params.cmd}"
