"""Plain fixed-width tables for command output: never wrapped or cut, easy to grep and paste."""

from __future__ import annotations

from typing import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right.

    >>> print(table(["model", "score"], [["M1", "0.5"], ["M10", "0.75"]]))
    model  score
    -----  -----
    M1       0.5
    M10     0.75
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    lines = [title] if title else []
    lines += [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]
    return "\n".join(lines)
