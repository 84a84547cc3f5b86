"""Docstrings as a terminal shows them: reStructuredText markup removed, re-wrapped."""

from __future__ import annotations

import re
import shutil
import textwrap

# :class:`~pkg.Name` -> Name, :meth:`Name.method` -> Name.method, ``code`` -> code
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_TILDE_PATH = re.compile(r":[a-z]+(?::[a-z]+)?:`~([\w.]*\.)?(\w+)`")
_LITERAL = re.compile(r"``(.+?)``")


def plain(text: str) -> str:
    """``text`` without reStructuredText inline markup (literals, roles, ``::``)."""
    text = _TILDE_PATH.sub(r"\2", text)
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.M).replace("\n::\n", "\n")


def wrapped(text: str, indent: str, width: int | None = None) -> list[str]:
    """Each paragraph of ``text`` re-wrapped to the terminal, indented; indented
    blocks (examples, formulas) are kept line for line."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    lines: list[str] = []
    for paragraph in plain(text).split("\n\n"):
        if lines:
            lines.append("")
        rows = paragraph.splitlines()
        if any(row.startswith(" ") for row in rows):
            lines += [indent + row for row in rows]
            continue
        lines += textwrap.wrap(
            " ".join(paragraph.split()),
            width=max(40, width - 1),
            initial_indent=indent,
            subsequent_indent=indent,
        )
    return lines
