"""clhost new-plugin writes a distribution that passes its own tests and clhost check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main
from clhost.cli._options import tomllib

NAME = "l2-anchor-demo"
DIST = f"clhost-{NAME}"
MODULE = "clhost_l2_anchor_demo"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    parent = tmp_path_factory.mktemp("scaffold")
    result = CliRunner().invoke(main, ["new-plugin", "clhost-L2_anchor-demo", "-d", str(parent)])
    assert result.exit_code == 0, result.output
    assert f"Created {parent / DIST}/" in result.output
    return parent / DIST


def test_skeleton_files(generated):
    files = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        f"src/{MODULE}/__init__.py",
        f"src/{MODULE}/plugin.py",
        f"src/{MODULE}/strategy.py",
        "tests/test_l2_anchor_demo.py",
    ]
    readme = (generated / "README.md").read_text()
    assert readme.startswith(f"# {DIST}\n") and f"--plugin {NAME}:strength=0.5" in readme


def test_pyproject_declares_the_entry_points(generated):
    project = tomllib.loads((generated / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST and project["dependencies"] == ["clhost>=0.1"]
    assert project["entry-points"] == {
        "clhost.strategies": {NAME: f"{MODULE}:L2AnchorDemo"},
        "clhost.plugins": {NAME: f"{MODULE}:L2AnchorDemoPlugin"},
    }


def test_generated_tests_pass(generated):
    environment = {**os.environ, "PYTHONPATH": str(generated / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=generated,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_generated_plugin_keeps_the_contract(generated, tmp_path, monkeypatch):
    project = tomllib.loads((generated / "pyproject.toml").read_text())["project"]
    make_distribution(tmp_path, DIST, project["entry-points"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(generated / "src"))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, DIST)
    try:
        result = CliRunner().invoke(main, ["check"])
        assert result.exit_code == 0, result.output
        info = CliRunner().invoke(main, ["info", NAME, "--kind", "plugin"])
        assert "strength: float = 1.0" in info.output and "clhost_loss_terms" in info.output
    finally:
        sys.modules.pop(MODULE, None)


def test_existing_directory_is_never_overwritten(generated):
    readme = (generated / "README.md").read_text()
    result = CliRunner().invoke(main, ["new-plugin", NAME, "-d", str(generated.parent)])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {generated} already exists; choose another name or directory"
    )
    assert (generated / "README.md").read_text() == readme


@pytest.mark.parametrize("bad", ["2fast", "with space", "trailing-", "Ünïcode"])
def test_names_must_be_kebab_case(tmp_path, bad):
    result = CliRunner().invoke(main, ["new-plugin", bad, "-d", str(tmp_path)])
    assert result.exit_code == 1 and "is not kebab-case" in result.output
    assert list(tmp_path.iterdir()) == []
