# Reports across experiments: the inoculation table and alpha-sweep figure.


rule report_inoculation:
    input:
        lambda wc: W.report_stage(P).deps,
    output:
        outputs_of(W.report_stage(P)) if P.report.inoculation else [],
    log:
        W.log_path("report", "inoculation"),
    conda:
        ENV
    params:
        fingerprint=lambda wc: W.fingerprint(P, W.report_stage(P)),
        cmd=lambda wc: W.report_stage(P).cmd,
    shell:
        "{params.cmd}"
