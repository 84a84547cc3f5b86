"""The library core works without the CLI's dependencies: only ``clhost.cli`` imports click."""

import subprocess
import sys

import pytest

CORE = ["clhost", "clhost.templates", "clhost.evaluation", "clhost.experiment"]


@pytest.mark.parametrize("module", CORE)
def test_importing_the_core_does_not_import_click(module):
    code = f"import sys, {module}; print('click' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", f"importing {module} imports click"
