"""The host's parameter validators: what they accept, and the one-line errors they give."""

import math
from pathlib import Path

import pytest

from clhost import validate
from clhost.errors import ParameterError


@pytest.mark.parametrize("value", [0, -1, 1.0, True, "3", None])
def test_positive_int_refuses_what_is_not_a_count(value):
    with pytest.raises(ParameterError, match=r"^mem_size must be a positive integer, got "):
        validate.positive_int("mem_size", value)


def test_non_negative_int_accepts_zero_and_refuses_bool():
    assert validate.non_negative_int("size", 0) == 0
    with pytest.raises(ParameterError, match="size must be a non-negative integer"):
        validate.non_negative_int("size", False)


def test_number_converts_and_states_the_interval():
    assert validate.number("alpha", 1, low=0.0, high=1.0) == 1.0
    with pytest.raises(ParameterError, match=r"alpha must be in \(0, 1\], got 0"):
        validate.number("alpha", 0, low=0.0, high=1.0, low_open=True)
    with pytest.raises(ParameterError, match=r"beta must be in \[0, 1\), got 1"):
        validate.number("beta", 1, low=0.0, high=1.0, high_open=True)
    with pytest.raises(ParameterError, match=r"lam must be in \(-inf, 2\]"):
        validate.number("lam", 3, high=2.0)
    for bad in (math.nan, math.inf, True, "1"):
        with pytest.raises(ParameterError, match="lam must be a finite number"):
            validate.number("lam", bad)


def test_boolean_and_one_of():
    assert validate.boolean("flag", False) is False
    with pytest.raises(ParameterError, match="flag must be True or False, got 1"):
        validate.boolean("flag", 1)
    assert validate.one_of("mode", "online", ("separate", "online")) == "online"
    with pytest.raises(ParameterError, match="mode must be one of 'separate', 'online'"):
        validate.one_of("mode", "onlin", ("separate", "online"))


def test_text_and_path():
    assert validate.text("project_name", "clhost") == "clhost"
    for value in ("", "  ", 3, None):
        with pytest.raises(ParameterError, match="project_name must be a non-empty string"):
            validate.text("project_name", value)
    assert validate.path("path", "logs/m.csv") == Path("logs/m.csv")
    assert validate.path("path", Path("x")) == Path("x")
    for value in ("", 3, None):
        with pytest.raises(ParameterError, match="path must be a path"):
            validate.path("path", value)
