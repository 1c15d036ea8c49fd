# Reports across experiments: the inoculation table and alpha-sweep figure.


rule report_inoculation:
    input:
        lambda wc: W.planned_deps(P, W.report_stage(P)),
    output:
        outputs_of(W.report_stage(P)) if P.report.inoculation else [],
    log:
        W.log_path("report", "inoculation"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.report_stage(P).cmd,
    shell:
        "{params.cmd}"


rule report_page:
    input:
        lambda wc: W.planned_deps(P, W.page_stage(P)),
    output:
        outputs_of(W.page_stage(P)),
    log:
        W.log_path("report", "page"),
    conda:
        ENV
    params:
        cmd=lambda wc: W.page_stage(P).cmd,
    shell:
        "{params.cmd}"
