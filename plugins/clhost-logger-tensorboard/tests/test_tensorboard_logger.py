"""The TensorBoard logger against the real library: event files read back with
tensorboard's EventAccumulator."""

import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clhost import registry
from clhost.evaluation import MetricEvent
from clhost.testing import assert_logger_keeps_a_killed_run, assert_refuses, run_readme_examples
from clhost_logger_tensorboard import TensorboardLogger


def series(folder):
    """Every scalar series of the event files in ``folder``: name -> [(step, value)]."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # keep them all
    events.Reload()
    return {
        name: [(point.step, point.value) for point in events.Scalars(name)]
        for name in events.Tags()["scalars"]
    }


def test_each_metric_is_a_series_stepped_by_iteration_and_flushed_per_event(tmp_path):
    logger = TensorboardLogger(tmp_path / "tb")
    logger.log(MetricEvent("train_exp", {"loss": 0.5, "accuracy": 0.75}, "train", 0, 1, 12))
    assert series(tmp_path / "tb") == {  # readable before close: flushed
        "train_exp/loss": [(12, 0.5)],
        "train_exp/accuracy": [(12, 0.75)],
    }
    logger.log(MetricEvent("eval_stream", {"loss": math.nan}, "test", None, 1, 12))
    logger.close()
    logger.close()
    assert math.isnan(series(tmp_path / "tb")["eval_stream/test/loss"][0][1])
    with pytest.raises(ValueError, match="closed"):
        logger.log(MetricEvent("run", {"bwt": 0.0}))


def test_a_killed_run_keeps_every_value_at_every_granularity(tmp_path):
    folder = tmp_path / "tb"
    assert_logger_keeps_a_killed_run(
        lambda: TensorboardLogger(folder, every="iteration"), lambda: series(folder)
    )


def test_bad_options_are_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    assert_refuses(
        TensorboardLogger,
        {"tb_log_dir": 3},
        ({"tb_log_dir": tmp_path / "file" / "tb"}, "tb_log_dir .* cannot write there"),
        {"filename_suffix": 1, "tb_log_dir": tmp_path},
        ({"tb_log_dir": tmp_path, "every": "step"}, "every must be one of"),
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        TensorboardLogger(tmp_path, flush_secs=1)


def test_registered_as_tensorboard():
    assert registry.load("logger", "tensorboard") is TensorboardLogger


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parent.parent / "README.md")
