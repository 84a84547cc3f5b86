"""The CSV logger: rows per metric value, flushed per event, appended on resume."""

import csv
import math
from pathlib import Path

import pytest

from clhost import registry
from clhost.evaluation import MetricEvent
from clhost.testing import assert_logger_keeps_a_killed_run, assert_refuses, run_readme_examples
from clhost_logger_csv import CSVLogger

EVENTS = [
    MetricEvent("train_exp", {"accuracy": 0.5, "loss": 1.25}, "train", 0, 1, 2, seconds=1.5),
    MetricEvent("eval_stream", {"accuracy": 0.75, "loss": math.nan}, "test", None, 1, 2),
]


def read(path):
    return list(csv.DictReader(Path(path).open()))


def test_a_row_per_metric_flushed_with_each_event(tmp_path):
    path = tmp_path / "logs" / "metrics.csv"
    logger = CSVLogger(path)
    logger.log(EVENTS[0])
    rows = read(path)  # readable before close: flushed
    assert [(r["phase"], r["metric"], r["value"]) for r in rows] == [
        ("train_exp", "accuracy", "0.5"),
        ("train_exp", "loss", "1.25"),
    ]
    assert rows[0]["seconds"] == "1.500000" and rows[0]["experience"] == "0"
    assert rows[0]["epoch"] == "" and rows[0]["trained"] == "1" and rows[0]["iteration"] == "2"
    logger.log(EVENTS[1])
    logger.close()
    logger.close()
    assert read(path)[3]["value"] == "nan" and read(path)[3]["experience"] == ""


def test_appending_writes_no_second_header(tmp_path):
    path = tmp_path / "metrics.csv"
    with CSVLogger(path) as logger:
        logger.log(EVENTS[0])
    with CSVLogger(path, mode="a") as logger:
        logger.log(EVENTS[1])
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(CSVLogger.COLUMNS)
    assert sum(line.startswith("seconds,") for line in lines) == 1
    assert len(read(path)) == 4


def test_a_killed_run_keeps_every_value_at_every_granularity(tmp_path):
    path = tmp_path / "metrics.csv"

    def series():
        found = {}
        for row in read(path):
            experience = int(row["experience"]) if row["experience"] else None
            event = MetricEvent(row["phase"], {row["metric"]: 0.0}, row["stream"], experience)
            (name,) = event.scalars()
            found.setdefault(name, []).append((int(row["iteration"]), float(row["value"])))
        return found

    assert_logger_keeps_a_killed_run(lambda: CSVLogger(path, every="iteration"), series)
    seconds = [float(row["seconds"]) for row in read(path)]
    assert seconds == sorted(seconds) and seconds[-1] > 0


def test_bad_options_are_one_clear_error(tmp_path):
    assert_refuses(
        CSVLogger,
        {"path": 3},
        ({"path": tmp_path / "x.csv", "mode": "r"}, "mode must be one of"),
        ({"path": tmp_path / "x.csv", "every": "batch"}, "every must be one of"),
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        CSVLogger(tmp_path / "x.csv", folder="x")


def test_registered_as_csv():
    assert registry.load("logger", "csv") is CSVLogger


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parent.parent / "README.md")
