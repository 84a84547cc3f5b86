"""Runs of one configuration over seeds and class orders, summarised as a paper reports
them: mean, standard deviation and a 95% confidence interval (Student's t) of each
metric, as Markdown, LaTeX and CSV tables.

A row is what ``clhost.sweep`` writes per run (``runs.jsonl``): ``strategy``, ``params``
(the swept parameter values), and the metrics of ``METRICS``; ``None`` means undefined
(forgetting after one experience) and is left out of that metric's statistics.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# metric -> column title; definitions in docs/metrics.md
METRICS = {
    "final_accuracy": "Final acc.",
    "average_incremental_accuracy": "Avg. inc. acc.",
    "forgetting": "Forgetting",
    "bwt": "BWT",
    "fwt": "FWT",
}
# efficiency fields summarised in the CSV and the cost plot
COSTS = ("train_seconds", "buffer_bytes", "parameters", "forward_passes_per_sample")
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """``n`` values: their mean, sample standard deviation (``n - 1``) and the
    ``CONFIDENCE`` interval of the mean, ``mean ± t * std / sqrt(n)``; ``nan`` where
    undefined (no value; one value for the deviation and the interval)."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Estimate:
        known = [float(v) for v in values if v is not None and not math.isnan(float(v))]
        n = len(known)
        if n == 0:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        mean = math.fsum(known) / n
        if n == 1:
            return cls(1, mean, math.nan, math.nan, math.nan)
        std = statistics.stdev(known)
        half = t_quantile((1 + CONFIDENCE) / 2, n - 1) * std / math.sqrt(n)
        return cls(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Group:
    """The runs (``members``, their rows) of one configuration: a strategy with its
    parameter values."""

    strategy: str
    params: tuple[tuple[str, str], ...]
    runs: int
    metrics: dict[str, Estimate]
    costs: dict[str, Estimate]
    members: list[Mapping[str, Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def label(self) -> str:
        return " ".join([self.strategy, *(f"{k}={v}" for k, v in self.params)])


def aggregate(rows: Sequence[Mapping[str, Any]]) -> list[Group]:
    """One ``Group`` per strategy and parameter values, in the order they first appear."""
    grouped: dict[tuple[str, tuple[tuple[str, str], ...]], list[Mapping[str, Any]]] = {}
    for row in rows:
        params = tuple((str(k), str(v)) for k, v in sorted(row.get("params", {}).items()))
        grouped.setdefault((row["strategy"], params), []).append(row)
    return [
        Group(
            strategy,
            params,
            len(members),
            {m: Estimate.of(row.get(m) for row in members) for m in METRICS},
            {c: Estimate.of(row.get("efficiency", {}).get(c) for row in members) for c in COSTS},
            members,
        )
        for (strategy, params), members in grouped.items()
    ]


# -- tables ----------------------------------------------------------------------------


def markdown(groups: Sequence[Group]) -> str:
    """Each metric as ``mean ± std [95% CI]``."""
    header = ["Method", "Runs", *METRICS.values()]
    lines = [_md_row(header), _md_row(["---"] + ["---:"] * (len(header) - 1))]
    for group in groups:
        cells = [_cell(group.metrics[m], ci=True) for m in METRICS]
        lines.append(_md_row([group.label.replace("|", "\\|"), str(group.runs), *cells]))
    note = (
        f"Mean ± standard deviation over runs [{CONFIDENCE:.0%} confidence interval, Student's t]."
    )
    return "\n".join([*lines, "", note]) + "\n"


def latex(groups: Sequence[Group]) -> str:
    """A booktabs ``tabular`` of ``mean ± std`` (the intervals are in the CSV)."""
    lines = [
        f"% mean $\\pm$ standard deviation over runs; {CONFIDENCE:.0%} confidence intervals "
        "(Student's t) in the CSV table",
        "\\begin{tabular}{lr" + "c" * len(METRICS) + "}",
        "\\toprule",
        " & ".join(["Method", "Runs", *METRICS.values()]) + " \\\\",
        "\\midrule",
    ]
    for group in groups:
        cells = [_latex_cell(group.metrics[m]) for m in METRICS]
        lines.append(" & ".join([_latex_escape(group.label), str(group.runs), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def csv_text(groups: Sequence[Group]) -> str:
    """Every number: per metric and cost its ``n``, mean, std and interval bounds."""
    names = [*METRICS, *COSTS]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    stats = ("n", "mean", "std", "ci_low", "ci_high")
    writer.writerow(["strategy", "params", "runs", *(f"{m}_{s}" for m in names for s in stats)])
    for group in groups:
        estimates = {**group.metrics, **group.costs}
        values = []
        for name in names:
            e = estimates[name]
            values += [e.n, *(_number(v) for v in (e.mean, e.std, e.low, e.high))]
        params = ";".join(f"{k}={v}" for k, v in group.params)
        writer.writerow([group.strategy, params, group.runs, *values])
    return text.getvalue()


def _cell(estimate: Estimate, *, ci: bool) -> str:
    if estimate.n == 0:
        return "n/a"
    if estimate.n == 1:
        return f"{estimate.mean:.4f}"
    text = f"{estimate.mean:.4f} ± {estimate.std:.4f}"
    return text + (f" [{estimate.low:.4f}, {estimate.high:.4f}]" if ci else "")


def _latex_cell(estimate: Estimate) -> str:
    if estimate.n == 0:
        return "n/a"
    if estimate.n == 1:
        return f"${estimate.mean:.4f}$"
    return f"${estimate.mean:.4f} \\pm {estimate.std:.4f}$"


def _latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _number(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


# -- Student's t -----------------------------------------------------------------------


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``p`` > 0.5),
    found by bisection on its distribution function."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if _t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-13 * high:
            break
    return (low + high) / 2


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0: 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t^2)."""
    return 1 - 0.5 * _incomplete_beta(df / (df + t * t), df / 2, 0.5)


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction
    (Lentz's method), on the side where it converges fast."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(1 - x, b, a)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return math.exp(log_front) * fraction / a
