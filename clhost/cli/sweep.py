"""``clhost sweep``: ``clhost run``'s experiment over strategies, parameter values, class
orders and seeds, in parallel processes, resumable; rows and aggregate tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clhost._parsing import parse_assignments
from clhost.cli._errors import user_errors
from clhost.cli._options import merge, read_config
from clhost.cli.run import command_line_layer
from clhost.cli.run import run as run_command
from clhost.errors import ParameterError

# the options of clhost run that compose each run of a sweep, shared as they are
SHARED = (
    "plugins",
    "buffer",
    "selection",
    "loss",
    "benchmark",
    "model",
    "optimizer",
    "lr",
    "epochs",
    "batch_size",
    "validation",
    "device",
    "config",
)


@click.command(context_settings={"show_default": True})
@click.option(
    "--strategy",
    "strategies",
    metavar="NAME,...",
    help="Strategies to compare, comma-separated [default: naive, or the --config's]",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="Strategy parameter values to sweep; each goes to the strategies that take it.",
)
@click.option("--seeds", metavar="S1,S2,...", help="Run seeds [default: 0, or the --config's]")
@click.option(
    "--orders",
    metavar="O1,O2,...",
    help="Class orders: values of the benchmark's seed [default: the benchmark's own]",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    help="Runs at once, each in a fresh process (0: in this process, one after the other).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory of the sweep: a directory per run, runs.jsonl and summary tables.",
)
@click.option("--dry-run", is_flag=True, help="List the runs and what is done; no training.")
@click.pass_context
def sweep(ctx: click.Context, **values: Any) -> None:
    """Run an experiment over strategies, parameter values, class orders and seeds.

    Each run is composed as clhost run composes it (the options below are run's) in a
    directory of its own under --output; a finished run is skipped and an interrupted one
    resumes, so the same command run again finishes only what is missing. Writes
    runs.jsonl (a row per run) and summary.md, summary.tex and summary.csv: mean ±
    standard deviation and 95% confidence interval of final and average incremental
    accuracy, forgetting, BWT and FWT. E.g. clhost sweep --strategy replay,der,ewc
    --seeds 0,1,2 -p mem_size=200,500 -o runs/s
    """
    from clhost import sweep as core

    with user_errors():
        base = _base_options(ctx, values)
        if base.loggers:
            raise ParameterError(
                "clhost sweep takes no loggers (each run's metrics are in its results.json "
                "and runs.jsonl); give --logger to clhost run"
            )
        seeds = _numbers(values["seeds"], "--seeds") if values["seeds"] else [base.seed]
        orders = _numbers(values["orders"], "--orders") if values["orders"] else None
        strategies = _names(values["strategies"]) if values["strategies"] else None
        runs = core.plan(
            base,
            values["output"],
            strategies=strategies or [base.strategy.name],
            seeds=seeds,
            orders=orders,
            grid=_grid(values["params"]),
        )
    if values["dry_run"]:
        for run in runs:
            click.echo(f"{run.status():<8} {run.name}")
        return
    click.echo(f"{len(runs)} runs in {values['output']}/", err=True)
    with user_errors():
        outcome = core.run_sweep(
            runs,
            values["output"],
            jobs=values["jobs"],
            echo=lambda line: click.echo(line, err=True),
            describe=_arguments(ctx),
        )
    if outcome.rows:
        click.echo((Path(values["output"]) / f"{core.SUMMARY_STEM}.md").read_text(), nl=False)
        click.echo(f"Rows and tables written to {values['output']}/", err=True)
    if outcome.failed:
        raise click.ClickException(
            f"{len(outcome.failed)} of {len(runs)} runs failed ("
            + ", ".join(outcome.failed)
            + "); the same command runs them again"
        )


for _param in run_command.params:
    if _param.name in SHARED:
        sweep.params.append(_param)


def _base_options(ctx: click.Context, values: dict[str, Any]) -> Any:
    """What every run shares: defaults < --config < run's options given here."""
    shared = {key: values[key] for key in SHARED}
    config = read_config(values["config"]) if values["config"] is not None else {}
    config.pop("output", None)  # the sweep's directory is --output's
    return merge([config, command_line_layer(ctx, shared)])


def _arguments(ctx: click.Context) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in ctx.params.items()}


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ParameterError(f"--strategy: expected NAME,NAME,..., got {text!r}")
    return names


def _numbers(text: str, option: str) -> list[int]:
    try:
        return [int(value) for value in text.split(",")]
    except ValueError:
        raise ParameterError(
            f"{option}: expected integers separated by commas, got {text!r}"
        ) from None


def _grid(params: tuple[str, ...]) -> dict[str, list[str]]:
    """``-p mem_size=200,500`` -> ``{"mem_size": ["200", "500"]}`` (a list-valued
    parameter goes in --config's params table)."""
    return {
        key: [value.strip() for value in text.split(",")]
        for key, text in parse_assignments(params, what="-p/--param").items()
    }
