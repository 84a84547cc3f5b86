"""``python -m clhost_avalanche SCRIPT [ARGS...]``: run an Avalanche script on clhost."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence

from clhost_avalanche._finder import install

USAGE = "usage: python -m clhost_avalanche SCRIPT [ARGS...]"


def main(argv: Sequence[str]) -> int:
    """Run ``argv[0]`` as ``__main__`` with ``avalanche`` resolved to this layer; the
    script sees ``sys.argv == [SCRIPT, *ARGS]`` and its folder first on ``sys.path``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    script = argv[0]
    if not os.path.isfile(script):
        print(f"clhost_avalanche: no such script: {script}", file=sys.stderr)
        return 2
    install()
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
