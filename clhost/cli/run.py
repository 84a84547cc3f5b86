"""``clhost run``: compose an experiment by name and train it, or explain the composition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from clhost._atomic import atomic_write_text, require_writable_directory
from clhost._parsing import parse_assignments, parse_spec
from clhost.cli._errors import user_errors
from clhost.cli._options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    SAVED_OPTIONS,
    RunOptions,
    Spec,
    merge,
    read_config,
    read_saved,
)
from clhost.errors import ParameterError

SPEC = "NAME[:KEY=VALUE,...]"
# checkpoint and results files of clhost.experiment: their presence means a run is there
_CHECKPOINT, _RESULTS = "checkpoint.pt", "results.json"
_RUN_FILES = (_CHECKPOINT, _RESULTS)


@click.command(context_settings={"show_default": True})
@click.option("--strategy", default="naive", help="Strategy entry point (clhost list strategy).")
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A strategy parameter."
)
@click.option("--plugin", "plugins", multiple=True, metavar=SPEC, help="An extra plugin.")
@click.option("--buffer", metavar=SPEC, help="Replay buffer for the strategy or a plugin.")
@click.option("--selection", metavar=SPEC, help="Exemplar selection strategy.")
@click.option("--loss", metavar=SPEC, help="Criterion (default: cross-entropy).")
@click.option("--benchmark", default="split-digits", metavar=SPEC, help="Benchmark.")
@click.option(
    "--model",
    metavar=SPEC,
    help="mlp, incremental-mlp, multihead-mlp or slim-resnet18, sized from the benchmark "
    "[default: mlp; multihead-mlp when the benchmark has several tasks]",
)
@click.option(
    "--optimizer", type=click.Choice(["sgd", "adam"], case_sensitive=False), default="sgd"
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Learning rate [default: 0.05 for sgd (momentum 0.9), 0.001 for adam]",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, help="Per experience."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE)
@click.option("--seed", type=int, default=0, help="Seeds Python, NumPy and torch.")
@click.option(
    "--validation",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    metavar="FRACTION",
    help="Hold out this fraction of each train experience as the stream 'valid', "
    "evaluated every epoch (what the early-stopping plugin watches).",
)
@click.option("--device", help="cpu, cuda, cuda:1 ... [default: cuda when available]")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with the same keys as these options; options given here override it.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Directory for the checkpoint after each experience and the results.",
)
@click.option(
    "--logger",
    "loggers",
    multiple=True,
    metavar=SPEC,
    help="Also send the metrics to this logger (clhost list logger), e.g. csv:every=iteration "
    "or tensorboard; relative files go under --output.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --output from its checkpoint.")
@click.option("--explain", is_flag=True, help="Print the composition and hook order; no training.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; print only the results.")
@click.pass_context
def run(ctx: click.Context, **values: Any) -> None:
    """Train a strategy on a benchmark and report.

    Prints the accuracy matrix, average accuracy and forgetting. With no options: naive
    finetuning of an MLP on the embedded Split Digits benchmark. Components are chosen
    by their entry-point names with KEY=VALUE parameters parsed by their annotations,
    e.g. --plugin ewc:ewc_lambda=100 or --model mlp:hidden_sizes=256,128.
    """
    from clhost import distributed  # under torchrun: join its process group first

    with user_errors():
        distributed.init_from_environment()
    finished = False
    try:
        _run(ctx, values, main=distributed.is_main())
        finished = True
    finally:
        distributed.leave(finished)


def _run(ctx: click.Context, values: dict[str, Any], *, main: bool) -> None:
    """``run``'s work; under torchrun only rank 0 (``main``) writes and prints."""
    with user_errors():
        options = resolve_options(ctx, values)
        from clhost.cli._compose import build
        from clhost.cli._loggers import build_loggers, plan_loggers

        output = Path(options.output) if options.output is not None else None
        planned = plan_loggers(options.loggers, output=output, resume=values["resume"])
        composition = build(options)
    composition.described += [("logger", f"{p.spec} ({p.origin})") for p in planned]
    if values["explain"]:
        if main:
            click.echo(explanation(composition))
        return
    quiet, resume = values["quiet"] or not main, values["resume"]
    header = f"{composition.described[0][1]} on {options.benchmark}"
    if not quiet and not resume:
        click.echo(header, err=True)
    from clhost.experiment import CHECKPOINT_NAME, run_experiment

    with user_errors():
        # a checkpoint's options stay as they are: the run keeps what it started with,
        # and a refused resume changes nothing on disk
        resuming = resume and output is not None and (output / CHECKPOINT_NAME).exists()
        if output is not None and main and not resuming:
            atomic_write_text(output / SAVED_OPTIONS, options.to_json())
        results = run_experiment(
            composition.strategy,
            composition.benchmark,
            output_dir=output,
            resume=resume,
            progress=not quiet,
            loggers=build_loggers(planned) if main else [],  # rank 0 logs for all
            eval_streams=composition.eval_streams,
            settings={"seed": options.seed},
            on_resume=None if quiet else _announce_resume(header, output, composition.benchmark),
        )
    if main:
        click.echo(results.summary())
    if output is not None and not quiet:
        click.echo(f"Results, checkpoint and options written to {output}/", err=True)


def resolve_options(ctx: click.Context, values: dict[str, Any]) -> RunOptions:
    """Merge defaults, the saved options of a resumed run, ``--config`` and the options
    given on the command line, in that order."""
    given = command_line_layer(ctx, values)
    config = read_config(values["config"]) if values["config"] is not None else {}
    output = given.get("output", config.get("output"))
    if output is not None:
        require_writable_directory(output, what="--output")
    saved: dict[str, Any] = {}
    if values["resume"]:
        if output is None:
            raise ParameterError("--resume needs --output: the directory of the run to continue")
        _require_run(Path(output))
        saved = read_saved(Path(output))
    elif output is not None and not values["explain"]:
        _refuse_to_overwrite(Path(output))
    return merge([saved, config, given])


def command_line_layer(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options given explicitly on the command line (not click's defaults)."""
    layer: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("config", "resume", "explain", "quiet"):
            continue
        if ctx.get_parameter_source(key) in (ParameterSource.DEFAULT, None):
            continue
        if key == "params":
            layer[key] = parse_assignments(value, what="-p/--param")
        elif key in ("plugins", "loggers"):
            option = f"--{key[:-1]}"
            layer[key] = [Spec(*parse_spec(spec, what=option)) for spec in value]
        elif key in ("buffer", "selection", "loss", "benchmark", "model"):
            layer[key] = Spec(*parse_spec(value, what=f"--{key}"))
        elif key == "output":
            layer[key] = str(value)
        else:
            layer[key] = value
    return layer


def explanation(composition: Any) -> str:
    """The resolved composition and, for each hook a plugin implements, the call order."""
    from clhost.cli._hooks import call_order_lines

    width = max(len(label) for label, _ in composition.described)
    lines = ["Composition:"]
    lines += [f"  {label.ljust(width)}  {text}" for label, text in composition.described]
    lines += ["", "Hook call order (the implementers of each hook, in the order they are called):"]
    lines += ["  " + line for line in call_order_lines(composition.strategy)]
    return "\n".join(lines)


def _require_run(output: Path) -> None:
    """What ``--resume`` continues: a checkpoint, or the options of a run killed before
    its first checkpoint (it starts again from its first experience)."""
    if (output / _CHECKPOINT).exists():
        return
    if (output / _RESULTS).exists():
        raise ParameterError(
            f"--output {output} holds results but no checkpoint to resume from; choose "
            "another directory to run again"
        )
    if not (output / SAVED_OPTIONS).exists():
        raise ParameterError(
            f"--output {output} holds no run to resume (no {_CHECKPOINT} or "
            f"{SAVED_OPTIONS}); start one without --resume"
        )


def _announce_resume(header: str, output: Path | None, benchmark: Any) -> Callable[[int], None]:
    """What a resumed run tells on stderr once its checkpoint is accepted."""
    total = len(benchmark.train_stream)

    def announce(done: int) -> None:
        click.echo(header, err=True)
        if done == 0:
            text = "no experience was finished: starting with experience 0"
        elif done >= total:
            text = f"all {total} experiences are done: reporting the results"
        else:
            text = f"{done} of {total} experiences done: continuing with experience {done}"
        click.echo(f"Resuming {output}/: {text}", err=True)

    return announce


def _refuse_to_overwrite(output: Path) -> None:
    existing = [name for name in _RUN_FILES if (output / name).exists()]
    if existing:
        raise ParameterError(
            f"--output {output} already holds a run ({', '.join(existing)}); continue it with "
            "--resume, or choose another directory"
        )
