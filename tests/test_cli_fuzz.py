"""Property-based: random option strings, random TOML files and damaged checkpoints never
make ``clhost run`` print a traceback, and a refusal writes nothing.

Every example runs the CLI in-process (click's CliRunner) in a working directory of its
own; exit codes 0 (it ran), 1 (one ``Error:`` line) and 2 (click's usage error, one
``Error:`` line) are the only outcomes, and on 1 or 2 the directory is as it was.
Training is kept tiny (1 epoch, 2 experiences, a narrow MLP) where the example does not
choose otherwise, so a run that is accepted costs a fraction of a second.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from _safety_parts import (
    BASE,
    contents,
    fake_site,  # noqa: F401 (autouse: only the fake distribution)
    invoke,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clhost._description import digest_of
from clhost.cli._options import CONFIG_KEYS

EXAMPLES = 60  # per property; derandomized, so every run tries the same examples
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = ["--epochs", "1", "--batch-size", "64", "-q"]
PATHS = st.sampled_from(["out", "out/sub", "file.txt", "file.txt/sub", "config.toml", ".", ""])
# a command line cannot hold a null byte, and the terminal gives no lone surrogates
TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
EDGE_NUMBERS = st.sampled_from(["-1", "0", "-0.0", "nan", "inf", "1e9", "1e-300", "3.7"])
HUGE = st.sampled_from([2**63, 2**64, 2**70, -(2**63) - 1]).map(str)


def names(*choices: str) -> st.SearchStrategy[str]:
    return st.sampled_from(choices)


def decimals(low: float, high: float) -> st.SearchStrategy[str]:
    return st.floats(low, high).map(repr)


# per option: values that are mostly right (so that building and training are reached),
# then edge values and typos
SPECS = {
    "strategy": (names("naive", "scaled"), names("scaeld", "anchor")),
    "plugin": (
        names("anchor", "anchor:strength=2", "anchor:strength=0"),
        names("anchor:strength=x", "anchor:strenght=1", "anchor:strength=", ":", "a:b=c,d"),
    ),
    "buffer": (names("keep-all:max_size=3"), names("anchor", "smoothed:x=1")),
    "loss": (names("smoothed", "smoothed:smoothing=0.2"), names("smoothed:smoothing=-1", "x")),
    "benchmark": (
        names("split-digits:n_experiences=2", "permuted-digits:n_experiences=2",
              "split-digits:n_experiences=2,task_labels=true",
              "split-digits:n_experiences=2,seed=3"),
        names("split-digits:seed=x", "split-digits:n_experiences=0", "mlp", "split-digits:n=2"),
    ),
    "model": (
        names("mlp", "mlp:hidden_sizes=8", "multihead-mlp", "incremental-mlp:hidden_sizes=4,4"),
        names("mlp:hidden_sizes=", "mpl", "slim-resnet18", "mlp:dropout=2", "mlp:hidden_sizes=0"),
    ),
}  # fmt: skip
VALUES_OF = {
    "--strategy": SPECS["strategy"],
    "-p": (names("alpha=2", "eval_mb_size=16"), names("alpha", "alpha=x", "train_epochs=3", "=")),
    "--plugin": SPECS["plugin"],
    "--buffer": SPECS["buffer"],
    "--selection": SPECS["buffer"],
    "--loss": SPECS["loss"],
    "--benchmark": SPECS["benchmark"],
    "--model": SPECS["model"],
    "--optimizer": (names("sgd", "adam", "ADAM"), names("rmsprop", "")),
    "--lr": (decimals(0.001, 1), EDGE_NUMBERS),
    "--validation": (decimals(0.05, 0.5), EDGE_NUMBERS),
    "--epochs": (names("1", "2"), names("0", "-1", "1.5")),
    "--batch-size": (st.integers(8, 200).map(str), names("0", "-1", "1e3") | HUGE),
    "--seed": (st.integers(-5, 100).map(str), HUGE),
    "--device": (names("cpu"), names("cuda", "cuda:7", "meta", "gpu")),
    "--config": (names("config.toml"), PATHS),
    "-o": (names("out"), PATHS),
}
FLAGS = ["--resume", "--explain", "-q", "--epocs", "--"]
TOKENS = st.lists(
    st.one_of(
        *[
            st.tuples(st.just(option), st.one_of(good, good, good, edge, TEXT))
            for option, (good, edge) in VALUES_OF.items()
        ],
        st.tuples(st.sampled_from(FLAGS)),
        st.tuples(TEXT),
    ),
    max_size=4,
).map(lambda groups: [token for group in groups for token in group])
_examples = itertools.count()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def finished(workspace):
    """A finished two-experience run, copied into the examples that resume."""
    output = workspace / "finished"
    result = invoke("run", *BASE, "--model", "mlp:hidden_sizes=8", *FAST, "-o", output)
    assert result.exit_code == 0, result.output
    return output


def run_in_own_directory(workspace: Path, args: list, prepare=None):
    """Invoke ``clhost run`` from a fresh working directory (``out/`` is the output, set up
    by ``prepare``); check the outcome rules and return the result."""
    work = workspace / f"example{next(_examples)}"
    work.mkdir()
    if prepare is not None:
        prepare(work / "out")
    before = contents(work)
    cwd = os.getcwd()
    os.chdir(work)  # relative paths the example writes stay in its directory
    try:
        result = invoke("run", *args)
    finally:
        os.chdir(cwd)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, result.output
        if result.exit_code == 1:
            assert len(result.output.strip().splitlines()) == 1, result.output
        assert contents(work) == before, f"a refusal wrote in {work}: {result.output}"
    shutil.rmtree(work, ignore_errors=True)
    return result


# -- random option strings ---------------------------------------------------------------


@settings(PROPERTY, max_examples=3 * EXAMPLES)
@given(tokens=TOKENS, resume_a_run=st.booleans())
def test_random_options(workspace, finished, tokens, resume_a_run):
    def prepare(out):
        (out.parent / "file.txt").write_text("a file")
        (out.parent / "config.toml").write_text("epochs = 1\n")
        if resume_a_run:
            shutil.copytree(finished, out)

    args = [*BASE, "--model", "mlp:hidden_sizes=8", *FAST, "-o", "out", *tokens]
    run_in_own_directory(workspace, args, prepare)


# -- random TOML files -------------------------------------------------------------------


NAME = st.one_of(*(choice for pair in SPECS.values() for choice in pair))
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 100),
    st.floats(-10, 10) | st.sampled_from([math.nan, math.inf, 0.0]),
    TEXT,
    NAME,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "max_size", "strength", "alpha"]) | TEXT, inner, max_size=3
        )
    ),  # fmt: skip
    max_leaves=6,
)
SPEC = NAME | st.fixed_dictionaries(
    {"name": NAME},
    optional={"n_experiences": SCALARS, "strength": SCALARS},
)
PLAUSIBLE = {  # per key, values that are often right, so building and training are reached
    "strategy": st.one_of(*SPECS["strategy"]),
    "params": st.dictionaries(st.sampled_from(["alpha", "eval_mb_size", "epochs", "x"]), SCALARS),
    "plugins": st.lists(SPEC, max_size=2),
    "benchmark": SPEC,
    "model": SPEC,
    "loss": SPEC,
    "buffer": SPEC,
    "optimizer": st.sampled_from(["sgd", "adam", "Adam", "nadam"]),
    "lr": st.floats(-1, 2),
    "epochs": st.integers(-1, 2),
    "seed": st.integers(-5, 100) | HUGE.map(int),
    "validation": st.floats(-0.5, 1.5),
    "device": st.sampled_from(["cpu", "cuda", "meta", "cpu:0"]),
    "output": PATHS,
}
ENTRIES = st.dictionaries(st.sampled_from([*CONFIG_KEYS, "batch-size", "epocs"]) | TEXT, VALUES,
                          max_size=3)  # fmt: skip
PLAUSIBLE_ENTRIES = st.fixed_dictionaries({}, optional=PLAUSIBLE)


def toml(value) -> str:
    """``value`` as a TOML value (tables inline)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(map(_escaped, value)) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    return "{" + ", ".join(f"{key_text(k)} = {toml(v)}" for k, v in value.items()) + "}"


def _escaped(character: str) -> str:
    code = ord(character)
    if character in '"\\' or code < 0x20 or code == 0x7F:
        return f"\\u{code:04x}"
    return character if code < 0x80 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def key_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml(key)


def document(entries: dict) -> str:
    scalars = {k: v for k, v in entries.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in entries.items() if isinstance(v, dict)}
    lines = [f"{key_text(k)} = {toml(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        lines += [f"[{key_text(key)}]", *(f"{key_text(k)} = {toml(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


@PROPERTY
@given(
    entries=st.tuples(PLAUSIBLE_ENTRIES, ENTRIES).map(lambda pair: {**pair[0], **pair[1]}),
    junk=st.sampled_from([b""] * 4) | st.binary(min_size=1, max_size=8),
)
def test_random_config_files(workspace, entries, junk):
    def prepare(out):
        (out.parent / "file.txt").write_text("a file")
        (out.parent / "run.toml").write_bytes(document(entries).encode() + junk)

    run_in_own_directory(workspace, ["--config", "run.toml", *FAST, "-o", "out"], prepare)


# -- damaged checkpoints -----------------------------------------------------------------

PLAIN = st.recursive(
    SCALARS | st.builds(torch.zeros, st.integers(0, 3)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)


def nested_keys(payload: dict) -> list[tuple]:
    """Paths (key tuples) to every value in the payload, two levels deep."""
    paths = [(key,) for key in payload if key != "digest"]
    for key, value in payload.items():
        if isinstance(value, dict) and key != "digest":
            paths += [(key, inner) for inner in value]
    return sorted(paths, key=repr)


@st.composite
def damage(draw, original: bytes):
    """Random bytes, a truncation, flipped bytes, or a payload with one value replaced
    (and the digest made to match, so the deeper checks are reached)."""
    kind = draw(st.sampled_from(["bytes", "truncate", "flip", "replace", "remove"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    if kind == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    payload = torch.load(io.BytesIO(original), weights_only=True)
    path = draw(st.sampled_from(nested_keys(payload)))
    parent = payload if len(path) == 1 else payload[path[0]]
    if kind == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(PLAIN)
    payload["digest"] = digest_of({k: v for k, v in payload.items() if k != "digest"})
    out = io.BytesIO()
    torch.save(payload, out)
    return out.getvalue()


@PROPERTY
@given(data=st.data())
def test_damaged_checkpoints(workspace, finished, data):
    damaged = data.draw(damage((finished / "checkpoint.pt").read_bytes()))

    def prepare(out):
        shutil.copytree(finished, out)
        (out / "checkpoint.pt").write_bytes(damaged)

    run_in_own_directory(workspace, ["-o", "out", "--resume", "-q"], prepare)


# -- damaged saved options ---------------------------------------------------------------


@PROPERTY
@given(
    saved=st.one_of(
        VALUES.map(lambda value: json.dumps(value).encode()),
        PLAUSIBLE_ENTRIES.map(lambda entries: json.dumps(entries).encode()),
        st.binary(max_size=40),
    )
)
def test_damaged_saved_options(workspace, finished, saved):
    def prepare(out):
        shutil.copytree(finished, out)
        (out / "options.json").write_bytes(saved)

    run_in_own_directory(workspace, ["-o", "out", "--resume", "-q"], prepare)
