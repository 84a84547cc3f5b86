"""clhost report: tables from a finished run or sweep, plots with the plots extra, and
one line saying how to get them without it."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from clhost.cli import main
from clhost.cli._options import RunOptions, Spec
from clhost.report import PLOTS_HINT, report
from clhost.sweep import plan, run_sweep

BASE = RunOptions(benchmark=Spec("split-digits", {"n_experiences": "2"}), epochs=1, device="cpu")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished sweep of two strategies over two seeds (four tiny runs)."""
    directory = tmp_path_factory.mktemp("sweep")
    runs = plan(BASE, directory, strategies=["naive", "replay"], seeds=[0, 1])
    run_sweep(runs, directory, jobs=0, echo=lambda line: None)
    return directory


def test_a_sweep_report_has_the_tables_and_every_plot_in_png_and_svg(swept, tmp_path):
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(main, ["report", str(swept), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    stems = [
        "curves",
        "cost",
        *(f"heatmaps/{r}__seed={s}" for r in ("naive", "replay") for s in (0, 1)),
    ]
    assert names == {"summary.md", "summary.tex", "summary.csv"} | {
        f"{stem}.{suffix}" for stem in stems for suffix in ("png", "svg")
    }
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "heatmaps" / "naive__seed=0.svg").read_text().lstrip().startswith("<?xml")
    table = (tmp_path / "summary.md").read_text()
    assert "| naive | 2 |" in table and "| replay | 2 |" in table
    assert table == (swept / "summary.md").read_text()  # the sweep wrote the same


def test_without_matplotlib_the_tables_come_with_one_line_on_getting_plots(
    swept, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "clhost.plots", None)  # its import fails: no matplotlib
    lines = []
    done = report(swept, tmp_path, echo=lines.append)
    assert lines == [PLOTS_HINT] and "clhost[plots]" in PLOTS_HINT
    assert sorted(p.name for p in done.written) == ["summary.csv", "summary.md", "summary.tex"]


def test_a_single_run_reports_as_a_sweep_of_one(tmp_path):
    run = tmp_path / "run"
    arguments = ["run", "--epochs", "1", "--benchmark", "split-digits:n_experiences=2", "-q"]
    assert CliRunner().invoke(main, [*arguments, "-o", str(run)]).exit_code == 0
    result = CliRunner().invoke(main, ["report", str(run), "--no-plots"])
    assert result.exit_code == 0, result.output
    table = (run / "report" / "summary.md").read_text().splitlines()
    assert table[2].startswith("| naive | 1 | ")  # one run: no deviation, no interval
    assert "±" not in table[2]


def test_an_unfinished_sweep_says_what_the_report_covers(swept, tmp_path):
    runs = plan(BASE, swept, strategies=["naive", "replay"], seeds=[0, 1, 2])
    import json

    from clhost.sweep import PLAN_NAME, _planned_entry

    plan_text = json.dumps({"runs": [_planned_entry(r) for r in runs]})
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / PLAN_NAME).write_text(plan_text)
    (tmp_path / "sweep" / "runs.jsonl").write_text((swept / "runs.jsonl").read_text())
    lines = []
    report(tmp_path / "sweep", plots=False, echo=lines.append)
    assert lines == ["4 of 6 runs are finished; the report covers those"]


def test_a_directory_with_no_run_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "neither a run" in result.output
