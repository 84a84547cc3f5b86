"""Loggers: the text and CSV logs Avalanche writes for the same run."""

from __future__ import annotations

import pytest

from clhost_avalanche._exports import NotSupported
from clhost_avalanche.logging import TensorboardLogger, WandBLogger


def test_text_and_csv_logs_match_avalanches(run_script, reference):
    assert run_script("loggers").json("LOGS") == reference["logs"]


@pytest.mark.parametrize(
    ("logger", "plugin"), [(TensorboardLogger, "tensorboard"), (WandBLogger, "wandb")]
)
def test_tensorboard_and_wandb_point_at_the_logger_plugins(logger, plugin):
    with pytest.raises(NotSupported, match=f"'{plugin}' logger plugin") as error:
        logger("runs")
    assert "clhost.loggers" in str(error.value) and "\n" not in str(error.value)
