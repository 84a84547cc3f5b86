"""The MLflow logger against the real library: a local file store read back with
MlflowClient."""

import math
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from clhost import registry
from clhost.evaluation import MetricEvent
from clhost.testing import assert_logger_keeps_a_killed_run, assert_refuses, run_readme_examples
from clhost_logger_mlflow import MLflowLogger


def history(logger, run_id=None):
    """Every metric of the logger's run (or run ``run_id`` of its store), read from its
    store: name -> [(step, value)]."""
    tracking_uri = logger if isinstance(logger, str) else logger.tracking_uri
    run_id = run_id or logger.run_id
    client = MlflowClient(tracking_uri=tracking_uri)
    names = client.get_run(run_id).data.metrics
    return {
        name: [(m.step, m.value) for m in client.get_metric_history(run_id, name)] for name in names
    }


def test_each_metric_is_a_history_stepped_by_iteration_in_the_file_store(tmp_path):
    logger = MLflowLogger(tmp_path / "mlruns", experiment_name="digits", run_name="first")
    logger.log(MetricEvent("train_exp", {"loss": 0.5, "accuracy": 0.75}, "train", 0, 1, 12))
    assert history(logger) == {  # stored before close
        "train_exp/loss": [(12, 0.5)],
        "train_exp/accuracy": [(12, 0.75)],
    }
    logger.log(MetricEvent("eval_stream", {"loss": math.nan}, "test", None, 1, 12))
    logger.close()
    logger.close()
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    assert math.isnan(history(logger)["eval_stream/test/loss"][0][1])
    with pytest.raises(ValueError, match="closed"):
        logger.log(MetricEvent("run", {"bwt": 0.0}))
    again = MLflowLogger(tmp_path / "mlruns", experiment_name="digits")  # same experiment
    again.close()
    assert client.get_run(again.run_id).info.experiment_id == run.info.experiment_id


def test_a_killed_run_keeps_every_value_at_every_granularity(tmp_path):
    store = tmp_path / "mlruns"

    def killed_run():
        """The one run in the store (its logger was built in the killed process)."""
        client = MlflowClient(tracking_uri=store.as_uri())
        (run,) = client.search_runs([client.get_experiment_by_name("clhost").experiment_id])
        return history(store.as_uri(), run.info.run_id)

    assert_logger_keeps_a_killed_run(lambda: MLflowLogger(store, every="iteration"), killed_run)


def test_any_tracking_uri_wins_over_the_directory(tmp_path):
    uri = (tmp_path / "elsewhere").as_uri()
    logger = MLflowLogger(tmp_path / "unused", tracking_uri=uri)
    logger.close()
    assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / "unused").exists()


def test_bad_options_are_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    assert_refuses(
        MLflowLogger,
        {"directory": 3},
        {"tracking_uri": ""},
        ({"directory": tmp_path / "file" / "mlruns"}, "MLflow at file:"),
        ({"tracking_uri": "nosuchscheme://x"}, "MLflow at nosuchscheme://x"),
        {"experiment_name": None, "directory": tmp_path},
        {"run_name": 1, "directory": tmp_path},
        ({"every": "step", "directory": tmp_path}, "every must be one of"),
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        MLflowLogger(tmp_path, experiment="x")


def test_registered_as_mlflow():
    assert registry.load("logger", "mlflow") is MLflowLogger


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parent.parent / "README.md")
