"""Loggers: the text and CSV logs Avalanche writes for the same run."""

from __future__ import annotations

import pytest
import torch

from clhost_avalanche._exports import NotSupported
from clhost_avalanche.logging import PluginLogger, TensorboardLogger, WandBLogger


def test_text_and_csv_logs_match_avalanches(run_script, reference):
    assert run_script("loggers").json("LOGS") == reference["logs"]


def test_tensorboard_logger_writes_avalanches_names_through_the_logger_plugin(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorboardLogger(tmp_path)
    logger.log_single_metric("Top1_Acc_Stream/eval_phase/test_stream/Task000", 0.75, 12)
    logger.log_single_metric("ConfusionMatrix_Stream/eval_phase/test_stream", torch.eye(3), 12)
    logger.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Tags()["scalars"] == ["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    [point] = events.Scalars("Top1_Acc_Stream/eval_phase/test_stream/Task000")
    assert (point.step, point.value) == (12, 0.75)


def test_a_missing_logger_plugin_or_option_fails_with_one_line():
    class Missing(PluginLogger):
        entry_point = "no-such-logger"

    with pytest.raises(NotSupported, match="'no-such-logger' logger plugin") as error:
        Missing()
    assert "\n" not in str(error.value)
    with pytest.raises(NotSupported, match="log_artifacts"):
        WandBLogger(log_artifacts=True)
