# The embedded models: the tiny one (corpus -> tokenizer -> pretrained model + instruction
# metrics), and real ones built from their registry packages (results/models/<name>/).
from inoclab import paths
from inoclab.params.models import EMBEDDED


rule tiny_corpus:
    input:
        lambda wc: W.planned_deps(P, W.tiny_corpus(P)),
    output:
        outputs_of(W.tiny_corpus(P)),
    log:
        W.log_path("tiny_corpus"),
    conda:
        ENV
    shell:
        W.tiny_corpus(P).cmd


rule tiny_tokenizer:
    input:
        lambda wc: W.planned_deps(P, W.tiny_tokenizer(P)),
    output:
        outputs_of(W.tiny_tokenizer(P)),
    log:
        W.log_path("tiny_tokenizer"),
    conda:
        ENV
    shell:
        W.tiny_tokenizer(P).cmd


rule tiny_pretrain:
    input:
        lambda wc: W.planned_deps(P, W.tiny_pretrain(P)),
    output:
        outputs_of(W.tiny_pretrain(P)),
    log:
        W.log_path("tiny_pretrain"),
    conda:
        ENV
    threads: workflow.cores
    shell:
        W.tiny_pretrain(P).cmd


rule build_base_model:
    input:
        lambda wc: W.planned_deps(P, W.base_model_stage(P, wc.model)),
    output:
        directory(str(paths.embedded_model("{model}"))),
    wildcard_constraints:
        model="|".join(re.escape(m) for m in EMBEDDED),
    log:
        W.log_path("base_model", "{model}"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.base_model_stage(P, wc.model).cmd,
    shell:
        "{params.cmd}"
