"""The JSON-lines logger: strict JSON objects, flushed per event, appended on resume."""

import json
import math
from pathlib import Path

import pytest

from clhost import registry
from clhost.evaluation import MetricEvent
from clhost.testing import assert_logger_keeps_a_killed_run, assert_refuses, run_readme_examples
from clhost_logger_jsonl import JSONLLogger

EVENTS = [
    MetricEvent("train_epoch", {"loss": 1.25}, "train", 0, 0, 3, epoch=1, seconds=0.5),
    MetricEvent("eval_stream", {"accuracy": 0.75, "loss": math.nan}, "test", None, 1, 4),
]


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_strict_json_objects_flushed_with_each_event(tmp_path):
    path = tmp_path / "events.jsonl"
    with JSONLLogger(path) as logger:
        for event in EVENTS:
            logger.log(event)
        objects = read(path)  # flushed before close
    assert objects[0] == {
        "seconds": 0.5,
        "phase": "train_epoch",
        "stream": "train",
        "experience": 0,
        "epoch": 1,
        "trained": 0,
        "iteration": 3,
        "metrics": {"loss": 1.25},
    }
    assert objects[1]["metrics"]["loss"] is None and objects[1]["experience"] is None
    with pytest.raises(ValueError, match="closed"):
        logger.log(EVENTS[0])


def test_appending_keeps_the_earlier_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    with JSONLLogger(path) as logger:
        logger.log(EVENTS[0])
    with JSONLLogger(path, mode="a") as logger:
        logger.log(EVENTS[1])
    assert [o["phase"] for o in read(path)] == ["train_epoch", "eval_stream"]


def test_a_killed_run_keeps_every_value_at_every_granularity(tmp_path):
    path = tmp_path / "events.jsonl"

    def series():
        found = {}
        for item in read(path):
            metrics = {k: math.nan if v is None else v for k, v in item["metrics"].items()}
            event = MetricEvent(item["phase"], metrics, item["stream"], item["experience"])
            for name, value in event.scalars().items():
                found.setdefault(name, []).append((item["iteration"], value))
        return found

    assert_logger_keeps_a_killed_run(lambda: JSONLLogger(path, every="iteration"), series)


def test_bad_options_are_one_clear_error(tmp_path):
    assert_refuses(
        JSONLLogger,
        {"path": None},
        ({"path": tmp_path / "x.jsonl", "mode": "x"}, "mode must be one of"),
        ({"path": tmp_path / "x.jsonl", "every": 1}, "every must be one of"),
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        JSONLLogger(tmp_path / "x.jsonl", flush=True)


def test_registered_as_jsonl():
    assert registry.load("logger", "jsonl") is JSONLLogger


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parent.parent / "README.md")
