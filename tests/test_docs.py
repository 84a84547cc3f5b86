"""The docs stay true: the hook reference is current and every Python example runs."""

import re
from pathlib import Path

import pytest

from clhost._hookdoc import render_hook_reference

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = [
    "getting-started.md",
    "plugin-guide.md",
    "distributed.md",
    "loggers.md",
    "migrating-from-avalanche.md",
]


def test_hook_reference_is_current():
    committed = (DOCS / "hooks.md").read_text()
    assert committed == render_hook_reference(), (
        "docs/hooks.md is out of date: run python -m clhost._hookdoc > docs/hooks.md"
    )


def test_every_hook_is_documented():
    from clhost.hookspecs import HOOK_GROUPS, hook_names

    for group in HOOK_GROUPS:
        for name in hook_names(group):
            assert getattr(group, name).__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("page", EXAMPLES)
def test_python_examples_run(page):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)
    assert blocks, f"{page} has no python example"
    namespace: dict = {"__name__": f"docs.{page}"}
    exec(compile("\n".join(blocks), str(DOCS / page), "exec"), namespace)


def test_relative_links_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text()):
            assert (DOCS / target).exists(), f"{page.name} links to missing {target}"


def test_cli_config_examples_run(tmp_path):
    from click.testing import CliRunner

    from clhost.cli import main

    blocks = re.findall(r"```toml\n(.*?)```", (DOCS / "cli.md").read_text(), flags=re.S)
    assert blocks, "cli.md has no TOML example"
    for number, block in enumerate(blocks):
        config = tmp_path / f"example{number}.toml"
        config.write_text(block)
        result = CliRunner().invoke(main, ["run", "--config", str(config), "--quiet"])
        assert result.exit_code == 0, result.output
        assert "Average accuracy" in result.output


def test_quick_start_pins_the_checking_tools_as_ci_reads_it():
    import shutil
    import subprocess

    root = DOCS.parent
    script = (root / ".ci" / "run").read_text()
    program = re.search(r"awk '(.*?)' README\.md", script, flags=re.S)
    assert program, ".ci/run no longer reads the quick start with awk"
    if shutil.which("awk") is None:
        pytest.skip("no awk on this machine")
    commands = subprocess.run(
        ["awk", program.group(1), str(root / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(commands) == 2, commands
    tools = commands[1].split("&&")[0].split()
    assert "ruff" not in tools and "mypy" not in tools, "unpinned checking tools"
    assert any(t.startswith("ruff==") for t in tools) and any(t.startswith("mypy==") for t in tools)
