"""The W&B logger against the real library, offline with no network: the offline run
directory it leaves, and the history read back from its transaction log."""

import json
import math
import struct
import time
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2

from clhost import registry
from clhost.evaluation import MetricEvent
from clhost.testing import assert_logger_keeps_a_killed_run, assert_refuses, run_readme_examples
from clhost_logger_wandb import WandBLogger

BLOCK, HEADER = 32768, 7  # W&B's transaction log: LevelDB-style blocks, 7-byte headers
FULL, LAST = 1, 4


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network, whatever the machine's W&B settings."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def records(path):
    """The protobuf records of a ``.wandb`` file (a ``:W&B`` header, then records split
    into 32 KiB blocks, each piece with a checksum, length and type)."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    position, pieces = HEADER, []
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if left < HEADER or kind == 0:  # the padding at the end of a block
            position += left
            continue
        if position + HEADER + length > len(data):
            return  # a record still being written
        pieces.append(data[position + HEADER : position + HEADER + length])
        position += HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(pieces))
            pieces = []
            yield record


def offline_run(folder):
    """The one offline run directory under ``folder``."""
    (run,) = (Path(folder) / "wandb").glob("offline-run-*")
    return run


def finished_records(folder, timeout=60.0):
    """The records of the offline run in ``folder`` once its ``exit`` record is written:
    ``finish()`` hands the last records to W&B's core service, whose writer may still be
    appending them to the file (it is done before the process exits)."""
    (log,) = offline_run(folder).glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    while True:
        found = list(records(log))
        if any(record.WhichOneof("record_type") == "exit" for record in found):
            return found
        assert time.monotonic() < deadline, f"{log} never got its exit record"
        time.sleep(0.1)


def history(folder, *, finished=True):
    """Every series of the offline run: name -> [(iteration, value)], once the run is
    finished or (``finished=False``, a killed run) as its log stands now."""
    if finished:
        found_records = finished_records(folder)
    else:
        (log,) = offline_run(folder).glob("run-*.wandb")
        found_records = list(records(log))
    found = {}
    for record in found_records:
        if record.WhichOneof("record_type") != "history":
            continue
        row = {}
        for item in record.history.item:
            name = item.key or "/".join(item.nested_key)  # one or the other is set
            if not name.startswith("_"):  # W&B's own _step, _runtime, _timestamp
                row[name] = float(json.loads(item.value_json))
        step = int(row.pop("iteration", record.history.step.num))  # else W&B's own step
        for name, value in row.items():
            found.setdefault(name, []).append((step, value))
    return found


def test_an_offline_run_directory_holds_the_history_stepped_by_iteration(tmp_path):
    logger = WandBLogger("clhost-tests", "first", dir=tmp_path, mode="offline")
    logger.log(MetricEvent("eval_stream", {"accuracy": 0.25, "loss": math.nan}, "test", None))
    logger.log(MetricEvent("train_exp", {"loss": 0.5}, "train", 0, 1, 12))
    logger.log(MetricEvent("eval_stream", {"accuracy": 0.75}, "test", None, 1, 12))
    logger.close()
    logger.close()
    run = offline_run(tmp_path)
    assert (run / "files").is_dir() and (run / "logs").is_dir()
    found = history(tmp_path)
    assert found["eval_stream/test/accuracy"] == [(0, 0.25), (12, 0.75)]
    assert found["train_exp/loss"] == [(12, 0.5)]
    assert math.isnan(found["eval_stream/test/loss"][0][1])
    with pytest.raises(ValueError, match="closed"):
        logger.log(MetricEvent("run", {"bwt": 0.0}))


def test_a_killed_run_keeps_every_value_at_every_granularity(tmp_path):
    assert_logger_keeps_a_killed_run(
        lambda: WandBLogger(dir=tmp_path, every="iteration"),  # offline from WANDB_MODE
        lambda: history(tmp_path, finished=False),
        settle=20.0,  # W&B's service process writes what the killed run handed it
    )


def test_clhost_run_resume_starts_a_new_run_in_the_same_folder(tmp_path):
    from clhost.cli._loggers import build_loggers, plan_loggers
    from clhost.cli._options import Spec

    (planned,) = plan_loggers([Spec("wandb")], output=tmp_path, resume=True)
    assert planned.kwargs == {"dir": tmp_path}  # W&B's mode is no file mode: none given
    (logger,) = build_loggers([planned])
    logger.close()
    assert offline_run(tmp_path).is_dir()


def test_bad_options_are_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    assert_refuses(
        WandBLogger,
        {"project_name": ""},
        {"run_name": 3},
        {"dir": None},
        ({"dir": tmp_path / "file" / "runs"}, "dir .* cannot write there"),
        {"mode": "shared"},
        ({"every": "step"}, "every must be one of"),
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        WandBLogger(dir=tmp_path, entity="me")


def test_registered_as_wandb():
    assert registry.load("logger", "wandb") is WandBLogger


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parent.parent / "README.md")
