"""MkDocs hooks (``mkdocs.yml``): the pages generated at build time.

- ``catalogue.md``: every installed distribution (``site_catalogue.py``); a component that
  cannot be loaded is a warning, so ``mkdocs build --strict`` fails on it.
- ``reference/<module>.md`` for each such page in the navigation: the API reference of
  that module, from its docstrings (mkdocstrings). The navigation is the one list of the
  documented modules.
"""

from __future__ import annotations

import logging
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from site_catalogue import catalogue, render

log = logging.getLogger("mkdocs.hooks.site")
REFERENCE = "reference/"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    distributions = catalogue()
    for dist in distributions:
        for component in dist.components:
            if component.error is not None:
                log.warning(f"catalogue: cannot load {component.entry.label}: {component.error}")
    files.append(File.generated(config, "catalogue.md", content=render(distributions)))
    for page in _nav_pages(config.nav):
        if page.startswith(REFERENCE) and page.endswith(".md"):
            module = page[len(REFERENCE) : -len(".md")]
            files.append(File.generated(config, page, content=f"# {module}\n\n::: {module}\n"))
    return files


def _nav_pages(nav: Any) -> list[str]:
    """Every page path in the ``nav`` setting (nested lists and ``{title: page}`` maps)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    return []
