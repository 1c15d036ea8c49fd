"""Stage: the report page, results/report/index.html and its figures (the report_page package)."""

from inoclab.report_page import FIGURES, PAGE
from inoclab.report_page.render import write_report_page


def main(params, args):
    """Write the report page."""
    write_report_page(params)
    print(f"wrote {PAGE} and {len(list(FIGURES.iterdir()))} figures in {FIGURES}")
