"""key=value text becomes typed keyword arguments by the target's annotations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Optional

import pytest

from clhost._convert import bind
from clhost._params import missing_required, parameters
from clhost._parsing import parse_assignments, parse_spec
from clhost.errors import ParameterError


class Base:
    def __init__(self, *, lr: float = 0.1, epochs: int = 1, model: object = None):
        pass


class Method(Base):
    """A strategy-like class whose ``**kwargs`` reach ``Base``."""

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        mode: Literal["online", "offline"] = "online",
        steps: Literal[1, 5] = 1,
        verbose: bool = False,
        name: str = "m",
        size: int | None = None,
        limit: Optional[float] = None,  # noqa: UP045 - both spellings must work
        hidden_sizes: tuple[int, ...] = (8,),
        pair: tuple[int, float] = (1, 1.0),
        layers: list[str] = (),
        widths: Sequence[int] = (),
        anything=3,
        **kwargs,
    ):
        super().__init__(**kwargs)


def factory(n_experiences: int, *, seed: int = 0, task_labels: bool = False):
    return n_experiences, seed, task_labels


def parse(values, target=Method, **options):
    return bind(target, values, what="strategy 'method'", **options)


def test_parameters_follow_kwargs_up_the_bases():
    found = parameters(Method)
    assert list(found)[:3] == ["alpha", "mode", "steps"]
    assert {"lr", "epochs", "model"} <= set(found)
    assert found["alpha"].describe() == "alpha: float = 1.0"
    assert found["size"].describe() == "size: int | None = None"
    assert "self" not in found and "kwargs" not in found


def test_functions_have_parameters_too():
    found = parameters(factory)
    assert found["n_experiences"].required and not found["seed"].required


@pytest.mark.parametrize(
    "text, expected",
    [
        ({"alpha": "0.5"}, {"alpha": 0.5}),
        ({"alpha": "2"}, {"alpha": 2.0}),
        ({"mode": "offline"}, {"mode": "offline"}),
        ({"steps": "5"}, {"steps": 5}),
        ({"verbose": "true", "name": "x=y"}, {"verbose": True, "name": "x=y"}),
        ({"verbose": "0"}, {"verbose": False}),
        ({"size": "none"}, {"size": None}),
        ({"size": "12"}, {"size": 12}),
        ({"limit": "null"}, {"limit": None}),
        ({"limit": "1e-3"}, {"limit": 0.001}),
        ({"hidden_sizes": "256,128"}, {"hidden_sizes": (256, 128)}),
        ({"hidden_sizes": ""}, {"hidden_sizes": ()}),
        ({"pair": "3, 0.5"}, {"pair": (3, 0.5)}),
        ({"layers": "a,b"}, {"layers": ["a", "b"]}),
        ({"widths": "4"}, {"widths": (4,)}),
        ({"anything": "7"}, {"anything": 7}),  # unannotated: the default's type
        ({"lr": "0.01", "epochs": "3"}, {"lr": 0.01, "epochs": 3}),
        ({"hidden-sizes": "1"}, {"hidden_sizes": (1,)}),  # dashes for underscores
    ],
)
def test_text_is_converted_by_annotation(text, expected):
    assert parse(text) == expected


def test_toml_values_are_checked_and_converted():
    parsed = parse({"alpha": 1, "hidden_sizes": [4, 2], "verbose": True, "size": 3})
    assert parsed == {"alpha": 1.0, "hidden_sizes": (4, 2), "verbose": True, "size": 3}
    assert isinstance(parsed["alpha"], float)
    with pytest.raises(ParameterError, match="'epochs' expects int, got 1.5"):
        parse({"epochs": 1.5})
    with pytest.raises(ParameterError, match="'verbose' expects bool"):
        parse({"verbose": 1})
    with pytest.raises(ParameterError, match="'epochs' expects int"):
        parse({"epochs": True})


@pytest.mark.parametrize(
    "text, message",
    [
        ({"alpha": "big"}, "parameter 'alpha' expects float, got 'big'"),
        ({"mode": "batch"}, "parameter 'mode' expects one of 'online', 'offline', got 'batch'"),
        ({"steps": "2"}, "expects one of 1, 5"),
        ({"verbose": "maybe"}, "parameter 'verbose' expects bool"),
        ({"size": "1.5"}, "parameter 'size' expects int or none, got '1.5'"),
        ({"hidden_sizes": "256,x"}, "expects comma-separated int values"),
        ({"pair": "1"}, "expects 2 comma-separated values (int, float)"),
    ],
)
def test_bad_values_name_the_parameter_and_the_type(text, message):
    with pytest.raises(ParameterError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert str(caught.value).startswith("strategy 'method': ")


def test_unknown_key_lists_close_matches_and_valid_ones():
    with pytest.raises(ParameterError) as caught:
        parse({"alpah": "1"})
    message = str(caught.value)
    assert "unknown parameter 'alpah'; did you mean 'alpha'?" in message
    assert "Valid parameters: alpha, anything, epochs" in message


def test_reserved_keys_point_to_their_option():
    with pytest.raises(ParameterError, match="'model' is set with --model"):
        parse({"model": "x"}, reserved={"model": "--model"})
    with pytest.raises(ParameterError) as caught:
        parse({"modle": "x"}, reserved={"model": "--model"})
    assert "model" not in str(caught.value).split("Valid parameters:")[1].split(", ")


def test_missing_required_parameters():
    error = missing_required(factory, ["seed"], what="benchmark 'f'")
    assert "benchmark 'f' needs parameter(s) n_experiences: int" in str(error)
    assert missing_required(factory, ["n_experiences"], what="benchmark 'f'") is None


def test_assignments():
    assert parse_assignments(["a=1", " b = x=y "], what="-p") == {"a": "1", "b": "x=y"}
    with pytest.raises(ParameterError, match="-p: expected key=value, got 'oops'"):
        parse_assignments(["oops"], what="-p")


def test_specs():
    assert parse_spec("mlp", what="--model") == ("mlp", {})
    assert parse_spec("mlp:hidden_sizes=256,128,dropout=0.1", what="--model") == (
        "mlp",
        {"hidden_sizes": "256,128", "dropout": "0.1"},
    )
    assert parse_spec("lwf:", what="--plugin") == ("lwf", {})
    with pytest.raises(ParameterError, match="expected key=value, got 'x'"):
        parse_spec("lwf:x", what="--plugin")
    with pytest.raises(ParameterError, match="expected NAME"):
        parse_spec(":a=1", what="--plugin")


def logger(path: Path = Path("m.csv"), where: str | Path | None = None):
    """A logger's file parameters."""


def test_paths_are_converted_from_text_and_refused_when_empty():
    assert bind(logger, {"path": "logs/m.csv"}, what="logger") == {"path": Path("logs/m.csv")}
    assert bind(logger, {"path": Path("x")}, what="logger") == {"path": Path("x")}
    assert bind(logger, {"where": "x.txt"}, what="logger") == {"where": "x.txt"}
    with pytest.raises(ParameterError, match="'path' expects Path, got ''"):
        bind(logger, {"path": ""}, what="logger")
