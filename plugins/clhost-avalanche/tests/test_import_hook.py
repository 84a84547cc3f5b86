"""``python -m clhost_avalanche``: ``avalanche`` resolves to the layer in that process only;
what the layer does not mirror fails at import or attribute access with one line."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

import clhost_avalanche
from clhost_avalanche.__main__ import main
from clhost_avalanche._exports import NotSupported


def test_module_runs_an_unmodified_script_with_avalanche_resolved_to_the_layer(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import avalanche
            import avalanche.training.plugins as plugins
            from avalanche.training import Naive
            from helper import VALUE
            print(avalanche.__name__, Naive.__module__, plugins.__name__, VALUE, sys.argv[1:])
            print(sys.modules["avalanche.training"] is sys.modules["clhost_avalanche.training"])
            """
        )
    )
    (tmp_path / "helper.py").write_text("VALUE = 7\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "clhost_avalanche", str(script), "--lr", "0.1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "clhost_avalanche clhost_avalanche.training clhost_avalanche.training.plugins 7 "
        "['--lr', '0.1']",
        "True",
    ]


def test_importing_the_layer_installs_no_hook():
    code = (
        "import sys, clhost_avalanche.training, clhost_avalanche.benchmarks\n"
        "print(any(type(f).__name__ == 'AvalancheFinder' for f in sys.meta_path))\n"
        "import avalanche"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout == "False\n" and "No module named 'avalanche'" in done.stderr


def test_the_aliased_modules_keep_their_own_name(avalanche_hook):
    layer = importlib.import_module("avalanche.training")
    assert layer is sys.modules["clhost_avalanche.training"]
    assert layer.__spec__.name == "clhost_avalanche.training"
    supervised = importlib.import_module("avalanche.training.supervised")
    assert supervised.Naive is layer.Naive  # Avalanche's examples import from there too


def test_explicit_import_as_avalanche_needs_no_hook():
    avalanche = clhost_avalanche
    assert avalanche.training.Naive.__name__ == "Naive"
    assert avalanche.models.SimpleMLP(hidden_layers=2, drop_rate=0).features[3].out_features == 512
    assert avalanche.__version__ == "0.6.0"


@pytest.mark.parametrize(
    ("module", "name", "alternative"),
    [
        ("clhost_avalanche.training", "ExpertGateStrategy", "clhost_expert_gate"),
        ("clhost_avalanche.models", "as_multitask", "clhost.models"),
        ("clhost_avalanche.benchmarks", "CORe50", "clhost-vision"),
        ("clhost_avalanche.evaluation.metrics", "ram_usage_metrics", "clhost.evaluation"),
        ("clhost_avalanche.training.plugins", "MemoryNCMUpdate", "NCMClassifier"),
    ],
)
def test_an_unsupported_name_fails_with_one_line_naming_the_alternative(module, name, alternative):
    with pytest.raises(NotSupported) as error:
        exec(f"from {module} import {name}", {})
    message = str(error.value)
    assert "\n" not in message and name in message and alternative in message


def test_an_unsupported_module_fails_at_import(avalanche_hook):
    with pytest.raises(NotSupported, match="avalanche.checkpointing.*state_dict") as error:
        importlib.import_module("avalanche.checkpointing")
    assert "\n" not in str(error.value)
    with pytest.raises(NotSupported, match="avalanche.no_such_module"):
        importlib.import_module("avalanche.no_such_module")


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(AttributeError, match="did you mean Naive"):
        clhost_avalanche.training.Naiv  # noqa: B018


def test_usage_without_a_script(capsys):
    assert main([]) == 2
    assert "usage: python -m clhost_avalanche SCRIPT" in capsys.readouterr().err
    assert main(["no/such/script.py"]) == 2


def test_every_public_avalanche_name_is_mirrored_or_refused_with_one_line(reference):
    """Avalanche 0.6.0's public names (recorded from it) each resolve here, or fail with
    ``NotSupported`` naming the clhost alternative; none is silently missing."""
    for module_name, names in reference["public_names"].items():
        module = importlib.import_module("clhost_avalanche" + module_name[len("avalanche") :])
        for name in names:
            try:
                getattr(module, name)
            except NotSupported as error:
                assert "\n" not in str(error) and f"{module_name}.{name}" in str(error)
