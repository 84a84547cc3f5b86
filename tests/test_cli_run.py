"""clhost run: composition by name, options from TOML, explain, output and resume, errors."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main
from clhost.cli._compose import build
from clhost.cli._options import RunOptions, Spec
from clhost.models import MultiHeadMLP, SimpleMLP

PARTS = "fakerun_parts"
SOURCE = '''
import os

import torch

import clhost
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer, ExemplarsSelectionStrategy
from clhost.templates import SupervisedTemplate


class CountingPlugin(SupervisedPlugin):
    """Counts the training iterations it sees."""

    def __init__(self, every: int = 1):
        self.every, self.count = every, 0

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.count += 1


class InterruptPlugin(SupervisedPlugin):
    """Interrupts the run at the start of the experience in $FAKERUN_INTERRUPT_AT, as
    Ctrl-C would: where a run stops is no parameter of the experiment."""

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        at = os.environ.get("FAKERUN_INTERRUPT_AT")
        if at is not None and strategy.experience.current_experience == int(at):
            raise KeyboardInterrupt


class MemoryPlugin(SupervisedPlugin):
    """Takes a buffer by Avalanche's name, storage_policy, and fills it after each
    experience."""

    def __init__(self, storage_policy: ExemplarsBuffer | None = None):
        self.buffer = storage_policy

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        self.buffer.update(strategy)


class SizedMemoryPlugin(MemoryPlugin):
    """Holds mem_size exemplars: a buffer given must be that size (as the replay family)."""

    def __init__(self, mem_size: int = 20, storage_policy: ExemplarsBuffer | None = None):
        if storage_policy is not None and storage_policy.max_size != mem_size:
            raise ValueError(
                f"buffer holds {storage_policy.max_size} samples but mem_size={mem_size}"
            )
        super().__init__(storage_policy)
        self.mem_size = mem_size


class Scaled(SupervisedTemplate):
    """A template with a parameter of its own."""

    def __init__(self, *, alpha: float = 1.0, **kwargs):
        self.alpha = alpha
        super().__init__(**kwargs)


class KeepAll(ExemplarsBuffer):
    """Keeps the first max_size samples offered, ranked by an optional selection strategy."""

    def __init__(self, max_size: int, selection_strategy: ExemplarsSelectionStrategy | None = None):
        super().__init__(max_size)
        self.selection_strategy = selection_strategy
        self.updates = 0

    def update(self, strategy):
        self.updates += 1

    def resize(self, strategy, new_size):
        self.max_size = new_size


class FirstFirst(ExemplarsSelectionStrategy):
    """Keeps samples in their order; remembers the model it was given."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def make_sorted_indices(self, strategy, data):
        return list(range(len(data)))


class Smoothed(torch.nn.Module):
    """Cross-entropy with label smoothing."""

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)

    def forward(self, output, target):
        return self.loss(output, target)
'''


@pytest.fixture(autouse=True)
def site(tmp_path, monkeypatch):
    """Only the host and one fake distribution are visible, whatever else is installed:
    ``naive`` falls back to the host's SupervisedTemplate."""
    site = tmp_path / "site"
    make_distribution(
        site,
        "fake-run",
        {
            "clhost.strategies": {"scaled": f"{PARTS}:Scaled"},
            "clhost.plugins": {
                "counting": f"{PARTS}:CountingPlugin",
                "interrupt": f"{PARTS}:InterruptPlugin",
                "broken": "fakerun_not_installed:Plugin",
                "memory": f"{PARTS}:MemoryPlugin",
                "sized-memory": f"{PARTS}:SizedMemoryPlugin",
            },
            "clhost.buffers": {"keep-all": f"{PARTS}:KeepAll"},
            "clhost.selection": {"first-first": f"{PARTS}:FirstFirst"},
            "clhost.losses": {"smoothed": f"{PARTS}:Smoothed"},
        },
        {PARTS: SOURCE},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-run")
    monkeypatch.chdir(tmp_path)
    yield site
    for module in [name for name in sys.modules if name.startswith("fakerun_")]:
        del sys.modules[module]


SMALL = ["--benchmark", "split-digits:n_experiences=2", "--epochs", "1", "--device", "cpu"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def accuracy_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("after ")]


def test_default_run_prints_a_readable_summary():
    result = invoke("run", "--quiet")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "SupervisedTemplate on split-digits: 5 experiences" in out
    assert "Accuracy R[i][j]" in out and "Forgetting" in out and "Average accuracy" in out
    rows = accuracy_rows(out)
    assert len(rows) == 5
    diagonal = [float(row.split()[2 + i]) for i, row in enumerate(rows)]
    assert min(diagonal) > 0.9  # each experience is learnt ...
    assert float(rows[-1].split()[2]) < 0.2  # ... and naive finetuning forgets the first


def test_explain_shows_the_composition_and_hook_order_without_training(tmp_path):
    result = invoke(
        "run", *SMALL, "--plugin", "counting:every=2", "--plugin", "memory",
        "--buffer", "keep-all:max_size=5", "--selection", "first-first", "--explain",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "strategy   naive (SupervisedTemplate, built in)" in out
    assert "plugin     counting:every=2 (fakerun_parts:CountingPlugin from fake-run 1.0)" in out
    assert "buffer     keep-all:max_size=5 -> plugin 'memory'" in out
    assert "selection  first-first -> buffer 'keep-all'" in out
    assert "model      mlp: SimpleMLP(num_classes=10, input_size=64)" in out
    assert "training   1 epoch(s) per experience, batch size 32" in out
    order = out.split("Hook call order")[1]
    assert "clhost_after_training_iteration: CountingPlugin, " in order
    assert "clhost_after_training_exp: MemoryPlugin, " in order
    assert not (tmp_path / "out").exists()


def test_components_are_built_from_their_parameters():
    options = RunOptions(
        strategy=Spec("scaled", {"alpha": "0.5", "eval_mb_size": "64"}),
        plugins=[Spec("memory"), Spec("counting", {"every": "3"})],
        buffer=Spec("keep-all", {"max_size": "7"}),
        selection=Spec("first-first"),
        loss=Spec("smoothed", {"smoothing": "0.2"}),
        model=Spec("mlp", {"hidden_sizes": "16,8"}),
        optimizer="adam",
        lr=0.01,
        batch_size=16,
        epochs=3,
        device="cpu",
    )
    strategy = build(options).strategy
    assert (strategy.alpha, strategy.eval_mb_size) == (0.5, 64)
    assert (strategy.train_mb_size, strategy.train_epochs) == (16, 3)
    memory, counting = strategy.plugins
    assert counting.every == 3
    assert memory.buffer.max_size == 7
    assert memory.buffer.selection_strategy.model is strategy.model
    assert strategy._criterion.loss.label_smoothing == 0.2
    assert isinstance(strategy.optimizer, torch.optim.Adam)
    assert strategy.optimizer.param_groups[0]["lr"] == 0.01
    assert [m.out_features for m in strategy.model.modules() if isinstance(m, torch.nn.Linear)] == [
        16,
        8,
        10,
    ]


@pytest.mark.parametrize(
    "plugin_params, buffer_params, size",
    [
        ({"mem_size": "12"}, {}, 12),  # the buffer takes the plugin's mem_size ...
        ({}, {}, 20),  # ... or its default
        ({}, {"max_size": "9"}, 9),  # the plugin takes the buffer's max_size
        ({"mem-size": "7"}, {"max_size": 7}, 7),  # both, agreeing
    ],
)
def test_with_a_buffer_the_memory_size_is_given_once(plugin_params, buffer_params, size):
    options = RunOptions(
        plugins=[Spec("sized-memory", plugin_params)],
        buffer=Spec("keep-all", buffer_params),
        device="cpu",
    )
    (plugin,) = build(options).strategy.plugins
    assert plugin.mem_size == plugin.buffer.max_size == size


def test_a_memory_size_given_twice_must_agree():
    result = invoke(
        "run", *SMALL, "--plugin", "sized-memory:mem_size=5", "--buffer", "keep-all:max_size=6"
    )
    assert result.exit_code == 1
    assert "buffer holds 6 samples but mem_size=5" in result.output


def test_explain_says_where_the_buffer_size_comes_from():
    result = invoke("run", *SMALL, "--plugin", "sized-memory", "--buffer", "keep-all", "--explain")
    assert result.exit_code == 0, result.output
    assert "keep-all -> plugin 'sized-memory', max_size=20 from its mem_size" in result.output


def test_plugins_run_in_the_order_given_and_train():
    options = RunOptions(plugins=[Spec("counting")], epochs=1, device="cpu")
    options.benchmark = Spec("split-digits", {"n_experiences": "2"})
    composition = build(options)
    from clhost.experiment import run_experiment

    run_experiment(composition.strategy, composition.benchmark)
    counting = composition.strategy.plugins[0]
    assert counting.count == composition.strategy.clock.train_iterations > 0


def test_model_follows_the_benchmark():
    task_aware = build(RunOptions(benchmark=Spec("split-digits", {"task_labels": "true"})))
    assert isinstance(task_aware.strategy.model, MultiHeadMLP)
    plain = build(RunOptions(model=Spec("mlp")))
    assert isinstance(plain.strategy.model, SimpleMLP)
    assert plain.strategy.model.classifier.out_features == 10


def test_seed_makes_runs_repeatable():
    def first_weights(seed: int) -> torch.Tensor:
        return build(RunOptions(seed=seed)).strategy.model.classifier.weight.detach().clone()

    assert torch.equal(first_weights(3), first_weights(3))
    assert not torch.equal(first_weights(3), first_weights(4))


def test_config_file_with_command_line_overrides(tmp_path):
    config = tmp_path / "experiment.toml"
    config.write_text(
        'strategy = "scaled"\n'
        "epochs = 3\n"
        "batch-size = 8\n"
        'plugins = ["counting:every=2"]\n'
        "[params]\nalpha = 2\neval_every = 0\n"
        '[benchmark]\nname = "split-digits"\nn_experiences = 2\n'
        '[model]\nname = "mlp"\nhidden_sizes = [12]\n'
    )
    result = invoke("run", "--config", str(config), "--epochs", "1", "-p", "alpha=4", "--explain")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "with alpha=4, eval_every=0" in out
    assert "training   1 epoch(s) per experience, batch size 8" in out
    assert "split-digits:n_experiences=2" in out and "hidden_sizes=(12,)" in out
    assert "counting:every=2" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "scaeld"], "unknown strategy 'scaeld'; did you mean 'scaled'?"),
        (["--strategy", "scaled", "-p", "alpha=lots"], "parameter 'alpha' expects float"),
        (["--strategy", "scaled", "-p", "alpah=1"], "unknown parameter 'alpah'; did you mean"),
        (["-p", "alpha"], "-p/--param: expected key=value, got 'alpha'"),
        (["-p", "train_epochs=3"], "'train_epochs' is set with --epochs"),
        (["--plugin", "counting:every=x"], "plugin 'counting': parameter 'every' expects int"),
        (["--plugin", "countng"], "unknown plugin 'countng'; did you mean 'counting'?"),
        (["--plugin", "broken"], "cannot load plugin 'broken' (fake-run)"),
        (["--buffer", "keep-all:max_size=3"], "'naive' takes a 'storage_policy' parameter"),
        (["--plugin", "memory", "--buffer", "keep-all"], "needs parameter(s) max_size: int"),
        (["--model", "mpl"], "unknown model 'mpl'; did you mean 'mlp'?"),
        (["--model", "slim-resnet18"], "cannot take the inputs of benchmark 'split-digits'"),
        (["--benchmark", "split-digits:n_experiences=0"], "benchmark 'split-digits':"),
        (["--loss", "smoothed:smoothing=high"], "parameter 'smoothing' expects float"),
        (["--device", "gpu"], "--device 'gpu'"),
        (["--resume"], "--resume needs --output"),
    ],
)
def test_user_mistakes_are_one_clear_error(args, message):
    result = invoke("run", *args, "--explain")
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs = [", "invalid TOML"),
        ("epocs = 2", "unknown key in config"),
        ('epochs = "two"', "epochs: expected int, got 'two'"),
        ("plugins = 3", "plugins: expected list"),
        ("[benchmark]\nn_experiences = 2", 'expected "name:key=value,..." or a table'),
    ],
)
def test_bad_config_files_are_one_clear_error(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = invoke("run", "--config", str(config), "--explain")
    assert result.exit_code != 0
    assert result.output.count("\n") == 1 and message in result.output, result.output


def test_output_holds_results_and_is_not_overwritten(tmp_path):
    output = tmp_path / "run"
    first = invoke("run", *SMALL, "--plugin", "counting", "--output", str(output), "-q")
    assert first.exit_code == 0, first.output
    saved = json.loads((output / "options.json").read_text())
    assert saved["benchmark"] == "split-digits:n_experiences=2"
    assert saved["plugins"] == ["counting"] and saved["epochs"] == 1
    assert {"results.json", "accuracy_matrix.csv", "checkpoint.pt"} <= {
        path.name for path in output.iterdir()
    }
    results = json.loads((output / "results.json").read_text())
    assert len(results["accuracy_matrix"]) == 2

    again = invoke("run", *SMALL, "--output", str(output))
    assert again.exit_code != 0 and "already holds a run" in again.output


def test_an_interrupted_run_resumes_with_its_saved_options_to_the_same_result(tmp_path):
    options = ["--benchmark", "split-digits:n_experiences=5", "--epochs", "1", "--device", "cpu"]
    whole = invoke("run", *options, "--plugin", "interrupt", "-o", str(tmp_path / "whole"), "-q")
    assert whole.exit_code == 0, whole.output
    cut = tmp_path / "cut"
    interrupted = CliRunner().invoke(
        main,
        ["run", *options, "--plugin", "interrupt", "-o", str(cut), "-q"],
        env={"FAKERUN_INTERRUPT_AT": "2"},
    )
    assert interrupted.exit_code != 0 and "Aborted" in interrupted.output
    assert (cut / "checkpoint.pt").exists() and not (cut / "results.json").exists()

    # benchmark, epochs, device and plugins come from cut/options.json; a run restarted
    # from scratch would stop at experience 1, a resumed one starts at experience 2
    resumed = CliRunner().invoke(
        main, ["run", "-o", str(cut), "--resume"], env={"FAKERUN_INTERRUPT_AT": "1"}
    )
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming {cut}/: 2 of 5 experiences done: continuing with experience 2" in (
        resumed.stderr
    )
    assert len(accuracy_rows(resumed.stdout)) == 5
    assert accuracy_rows(resumed.stdout) == accuracy_rows(whole.output)
