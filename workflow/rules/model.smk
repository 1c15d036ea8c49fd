# The embedded tiny model: corpus -> tokenizer -> pretrained model (+ instruction metrics).


rule tiny_corpus:
    input:
        W.tiny_corpus(P).deps,
    output:
        outputs_of(W.tiny_corpus(P)),
    log:
        W.log_path("tiny_corpus"),
    conda:
        ENV
    params:
        fingerprint=W.fingerprint(P, W.tiny_corpus(P)),
    shell:
        W.tiny_corpus(P).cmd


rule tiny_tokenizer:
    input:
        W.tiny_tokenizer(P).deps,
    output:
        outputs_of(W.tiny_tokenizer(P)),
    log:
        W.log_path("tiny_tokenizer"),
    conda:
        ENV
    params:
        fingerprint=W.fingerprint(P, W.tiny_tokenizer(P)),
    shell:
        W.tiny_tokenizer(P).cmd


rule tiny_pretrain:
    input:
        W.tiny_pretrain(P).deps,
    output:
        outputs_of(W.tiny_pretrain(P)),
    log:
        W.log_path("tiny_pretrain"),
    conda:
        ENV
    params:
        fingerprint=W.fingerprint(P, W.tiny_pretrain(P)),
    threads: workflow.cores
    shell:
        W.tiny_pretrain(P).cmd
