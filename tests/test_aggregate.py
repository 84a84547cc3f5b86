"""Aggregate tables of a sweep: the statistics checked by hand, and the three formats."""

from __future__ import annotations

import csv
import io
import math

import pytest

from clhost.evaluation.aggregate import (
    Estimate,
    aggregate,
    csv_text,
    latex,
    markdown,
    t_quantile,
)


@pytest.mark.parametrize(
    ("p", "df", "quantile"),  # Student's t tables
    [(0.975, 1, 12.706204736), (0.975, 2, 4.302652730), (0.975, 4, 2.776445105),
     (0.975, 9, 2.262157163), (0.975, 30, 2.042272456), (0.995, 4, 4.604094871),
     (0.5, 3, 0.0)],
)  # fmt: skip
def test_t_quantiles_match_the_tables(p, df, quantile):
    assert t_quantile(p, df) == pytest.approx(quantile, abs=1e-8)


def row(strategy, final, forgetting=None, seed=0, **params):
    return {
        "strategy": strategy,
        "params": params,
        "seed": seed,
        "final_accuracy": final,
        "average_incremental_accuracy": final,
        "forgetting": forgetting,
        "bwt": None if forgetting is None else -forgetting,
        "fwt": 0.0,
        "efficiency": {"train_seconds": 2.0 * (seed + 1), "buffer_bytes": 100},
    }


ROWS = [
    row("replay", 0.80, 0.30, 0, mem_size=200),
    row("replay", 0.85, 0.20, 1, mem_size=200),
    row("replay", 0.90, 0.10, 2, mem_size=200),
    row("replay", 0.70, 0.10, 0, mem_size=500),
    row("ewc", 0.25, None, 0),
    row("ewc", 0.35, None, 1),
]


def test_mean_deviation_and_interval_by_hand():
    # 0.80, 0.85, 0.90: mean 0.85, sample std 0.05, half width t(0.975, 2) * 0.05 / sqrt(3)
    estimate = Estimate.of([0.80, 0.85, 0.90])
    half = 4.302652729911275 * 0.05 / math.sqrt(3)
    assert half == pytest.approx(0.124207, abs=1e-6)
    assert estimate.n == 3
    assert estimate.mean == pytest.approx(0.85)
    assert estimate.std == pytest.approx(0.05)
    assert (estimate.low, estimate.high) == (
        pytest.approx(0.85 - half, abs=1e-9),
        pytest.approx(0.85 + half, abs=1e-9),
    )
    # two values 0.25, 0.35: std 0.0707..., half width 12.7062 * 0.0707 / sqrt(2) = 0.6353
    two = Estimate.of([0.25, 0.35, None, math.nan])  # undefined values are left out
    assert two.n == 2 and two.std == pytest.approx(math.sqrt(0.005))
    assert two.high - two.mean == pytest.approx(12.706204736 * math.sqrt(0.005) / math.sqrt(2))
    one = Estimate.of([0.7])
    assert one.mean == 0.7 and math.isnan(one.std) and math.isnan(one.low)
    assert Estimate.of([None]).n == 0


def test_runs_are_grouped_by_strategy_and_parameter_values_in_order():
    groups = aggregate(ROWS)
    assert [(g.label, g.runs) for g in groups] == [
        ("replay mem_size=200", 3),
        ("replay mem_size=500", 1),
        ("ewc", 2),
    ]
    replay = groups[0]
    assert replay.metrics["forgetting"].mean == pytest.approx(0.2)
    assert replay.metrics["bwt"].mean == pytest.approx(-0.2)
    assert replay.costs["train_seconds"].mean == pytest.approx(4.0)
    assert groups[2].metrics["forgetting"].n == 0  # undefined for every run


def test_the_three_tables():
    groups = aggregate(ROWS)
    md = markdown(groups).splitlines()
    assert md[0] == ("| Method | Runs | Final acc. | Avg. inc. acc. | Forgetting | BWT | FWT |")
    assert md[2].startswith("| replay mem_size=200 | 3 | 0.8500 ± 0.0500 [0.7258, 0.9742] |")
    assert md[3].startswith("| replay mem_size=500 | 1 | 0.7000 | 0.7000 | 0.1000 |")
    assert "| ewc | 2 | 0.3000 ± 0.0707 [-0.3353, 0.9353] |" in md[4]
    assert md[4].split(" | ")[4] == "n/a"  # forgetting

    tex = latex(groups)
    assert "replay mem\\_size=200 & 3 & $0.8500 \\pm 0.0500$" in tex
    assert tex.count("\\\\") == 4 and "\\toprule" in tex and "\\bottomrule" in tex

    table = list(csv.DictReader(io.StringIO(csv_text(groups))))
    assert [r["strategy"] for r in table] == ["replay", "replay", "ewc"]
    assert table[0]["params"] == "mem_size=200" and table[0]["runs"] == "3"
    assert float(table[0]["final_accuracy_ci_low"]) == pytest.approx(0.85 - 0.124207, abs=1e-6)
    assert table[1]["final_accuracy_std"] == ""  # one run: undefined
    assert float(table[2]["train_seconds_mean"]) == pytest.approx(3.0)
