"""Stage: gather every inoculation run into results/report/inoculation.csv and alpha_sweep.png."""


from inoclab import paths
from inoclab.report import write_inoculation_report


def main(params, args):
    """Write the inoculation table and the alpha-sweep figure."""
    table = write_inoculation_report(params)
    cols = ["run", "group", "alpha", "trait_rate_without_prompt", "trait_rate_with_prompt"]
    print(table[cols].to_string(index=False))
    print(f"wrote {paths.INOCULATION_CSV} and {paths.ALPHA_SWEEP_PNG}")
