"""``clhost report``: tables and plots from a finished run or sweep."""

from __future__ import annotations

from pathlib import Path

import click

from clhost.cli._errors import user_errors


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Where to write the report [default: DIRECTORY/report]",
)
@click.option("--no-plots", is_flag=True, help="Only the tables.")
def report(directory: Path, output: Path | None, no_plots: bool) -> None:
    """Tables and plots of the run (clhost run -o) or sweep (clhost sweep -o) in DIRECTORY.

    Tables: summary.md, summary.tex and summary.csv (mean ± standard deviation and 95%
    confidence interval of each metric over the runs of each configuration). Plots (PNG
    and SVG, with the plots extra: pip install 'clhost[plots]'): an accuracy-matrix
    heatmap per run, the accuracy after each experience per configuration with a
    confidence band, and final accuracy against training time.
    """
    from clhost.report import report as write_report

    with user_errors():
        done = write_report(
            directory, output, plots=not no_plots, echo=lambda line: click.echo(line, err=True)
        )
    for path in done.written:
        click.echo(path)
