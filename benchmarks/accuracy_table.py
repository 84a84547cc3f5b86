"""Average accuracy and forgetting of every installed strategy, next to naive finetuning.

Every ``clhost.strategies`` entry point is built by name with the composition code of
``clhost run`` (``clhost.cli._compose.build``) and trained with ``run_experiment``, as
``clhost run`` does, on three embedded scenarios:

- class: class-incremental Split Digits, 5 experiences of 2 classes, one 10-way head;
- task: task-incremental Split Digits (task labels, one head per task: ``multihead-mlp``);
- permuted: Permuted Digits, 5 pixel permutations of all 10 digits, one 10-way head.

``SCENARIOS`` gives each scenario's model and training (Adam, minibatches of 32); every
run is seeded by ``--seeds`` and the table gives the mean (and the standard deviation over
seeds when there are several). Average accuracy is the mean accuracy over all test
experiences after the last one; forgetting is the mean drop from each experience's best
accuracy to its final one (``docs/metrics.md``).

Run: ``OMP_NUM_THREADS=1 python benchmarks/accuracy_table.py [--seeds 0,1,2]
[--scenarios class,task,permuted] [--strategies replay,ewc] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass, field

from clhost import registry
from clhost.cli._compose import build
from clhost.cli._options import RunOptions, Spec
from clhost.experiment import run_experiment

BATCH_SIZE, OPTIMIZER = 32, "adam"


@dataclass(frozen=True)
class Scenario:
    title: str
    benchmark: Spec
    model: Spec
    lr: float
    epochs: int


# class and permuted: the CLI's default MLP (512 hidden units) at a moderate learning rate.
# task: with that setting finetuning forgets almost nothing on these 2-class tasks, so the
# regularization distributions' task-incremental effect-test setting is used instead (a
# small multi-head MLP at a high learning rate, where finetuning forgets).
SCENARIOS = {
    "class": Scenario(
        "Class-incremental Split Digits", Spec("split-digits"), Spec("mlp"), 0.001, 5
    ),
    "task": Scenario(
        "Task-incremental Split Digits",
        Spec("split-digits", {"task_labels": "true"}),
        Spec("multihead-mlp", {"hidden_sizes": "16"}),
        0.03,
        10,
    ),
    "permuted": Scenario("Permuted Digits", Spec("permuted-digits"), Spec("mlp"), 0.001, 5),
}
NAIVE = "naive"

# Method settings: the defaults of each distribution except where said. Regularization
# strengths are the ones each distribution's effect tests use on these digits with Adam
# (task / permuted); for class-incremental the task value is used.
SETTINGS: dict[str, dict[str, str]] = {
    "ewc": {"ewc_lambda": "1000"},
    "synaptic-intelligence": {"si_lambda": "0.1"},
    "rwalk": {"ewc_lambda": "0.3"},
    # CoPE learns a p_size embedding that is the model's output: the MLP has 10 outputs
    "cope": {"p_size": "10"},
    # as Replay: one memory sample per new sample in each minibatch (default 10 per 32)
    "mir": {"batch_size_mem": "32"},
}
SCENARIO_SETTINGS: dict[tuple[str, str], dict[str, str]] = {
    ("ewc", "permuted"): {"ewc_lambda": "3000"},
    ("mas", "task"): {"lambda_reg": "0.01"},
    ("mas", "class"): {"lambda_reg": "0.01"},
    ("mas", "permuted"): {"lambda_reg": "0.3"},
    ("rwalk", "permuted"): {"ewc_lambda": "1.0"},
}

# Combinations not run, and why (shown in the table).
UNSUPPORTED: dict[tuple[str, str | None], str] = {
    ("bic", "task"): "one classifier over all classes: no multi-head models (BiC's own error)",
    ("cope", "task"): "prototypes of one embedding: a multi-head model has no single output",
    ("icarl", "task"): "one classifier over all classes: a multi-head model is not supported",
    ("generative-replay", "task"): "one solver labels the generated samples: no multi-head "
    "models (its own error)",
    **{
        (name, None): "a method on a frozen pretrained ViT (--model vit:...,pretrained_path=...)"
        for name in ("l2p", "dualprompt", "coda-prompt", "simplecil", "ranpac")
    },
}

# What the table says of a strategy that trains once on the whole stream (joint training).
WHOLE_STREAM_NOTE = "trained once on the whole stream (the upper bound): no forgetting"


@dataclass
class Outcome:
    accuracy: list[float] = field(default_factory=list)
    forgetting: list[float] = field(default_factory=list)
    note: str = ""


def settings_for(name: str, scenario: str) -> dict[str, str]:
    return {**SETTINGS.get(name, {}), **SCENARIO_SETTINGS.get((name, scenario), {})}


def run_once(name: str, scenario: str, seed: int, device: str) -> tuple[float, float]:
    """Average accuracy and forgetting of one seeded run of ``name`` on ``scenario``."""
    setting = SCENARIOS[scenario]
    options = RunOptions(
        strategy=Spec(name, settings_for(name, scenario)),
        benchmark=setting.benchmark,
        model=setting.model,
        optimizer=OPTIMIZER,
        lr=setting.lr,
        epochs=setting.epochs,
        batch_size=BATCH_SIZE,
        seed=seed,
        device=device,
    )
    composition = build(options)
    results = run_experiment(
        composition.strategy, composition.benchmark, eval_before_training=False
    )
    return results.average_accuracy, results.forgetting


def evaluate(name: str, scenario: str, seeds: list[int], device: str) -> Outcome:
    reason = UNSUPPORTED.get((name, scenario)) or UNSUPPORTED.get((name, None))
    if reason:
        return Outcome(note=f"not run: {reason}")
    whole_stream = getattr(registry.load("strategy", name), "trains_on_whole_stream", False)
    outcome = Outcome(note=WHOLE_STREAM_NOTE if whole_stream else "")
    for seed in seeds:
        try:
            accuracy, forgetting = run_once(name, scenario, seed, device)
        except Exception as error:  # reported in the table, never hidden
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return Outcome(note=f"error: {type(error).__name__}: {first}"[:160])
        outcome.accuracy.append(accuracy)
        outcome.forgetting.append(forgetting)
    return outcome


def cell(values: list[float]) -> str:
    if not values or any(math.isnan(v) for v in values):
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def table(scenario: str, outcomes: dict[str, Outcome]) -> str:
    setting = SCENARIOS[scenario]
    naive = outcomes.get(NAIVE)
    base = statistics.fmean(naive.accuracy) if naive and naive.accuracy else math.nan
    lines = [
        f"### {setting.title}",
        "",
        f"`--benchmark {setting.benchmark} --model {setting.model} --optimizer {OPTIMIZER} "
        f"--lr {setting.lr} --epochs {setting.epochs} --batch-size {BATCH_SIZE}`",
        "",
        "| strategy | avg accuracy | Δ vs naive | forgetting | settings, notes |",
        "|---|---|---|---|---|",
    ]
    for name, outcome in outcomes.items():
        delta = (
            f"{statistics.fmean(outcome.accuracy) - base:+.3f}"
            if outcome.accuracy and name != NAIVE and not math.isnan(base)
            else ""
        )
        settings = ", ".join(f"{k}={v}" for k, v in settings_for(name, scenario).items())
        notes = "; ".join(part for part in (settings, outcome.note) if part)
        lines.append(
            f"| {name} | {cell(outcome.accuracy)} | {delta} | {cell(outcome.forgetting)} "
            f"| {notes} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--strategies", default="", help="default: every installed strategy")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    names = args.strategies.split(",") if args.strategies else None
    names = names or [entry.name for entry in registry.list_entries("strategy")]
    names = [NAIVE, *(name for name in names if name != NAIVE)]
    print(f"Seeds {seeds}, {args.device}; mean ± standard deviation over seeds.\n")
    for scenario in args.scenarios.split(","):
        outcomes = {}
        for name in names:
            outcomes[name] = evaluate(name, scenario, seeds, args.device)
            print(f"{scenario} {name}: {outcomes[name]}", file=sys.stderr, flush=True)
        print(table(scenario, outcomes) + "\n", flush=True)


if __name__ == "__main__":
    main()
