"""Plain aligned text tables: readable in a terminal and easy to grep."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    lines = [list(headers)] if headers else []
    lines += [list(row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)), line[-1]]
        ).rstrip()
        for line in lines
    )
