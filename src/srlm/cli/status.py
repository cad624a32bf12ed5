"""``srlm status RUN_DIR``: which stages of a run are done, with row counts.

A path that is not a run directory gets a sentence saying what it is instead (a model folder
of a run, a checkpoint, a file, nothing), with the command that was probably meant.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.errors import UserError


def add_command(subparsers: Any) -> None:
    """Register ``srlm status``."""
    status = subparsers.add_parser("status", help="which stages of a run are done, with row counts")
    status.add_argument("run_dir", help="a run directory, e.g. runs/tiny")
    status.set_defaults(func=_command)


def not_a_run(root: Path) -> str | None:
    """Why ``root`` is not a run directory, or ``None`` when it is one."""
    if not root.exists():
        return f"{root}: no such directory"
    if not root.is_dir():
        return f"{root}: a file, not a run directory"
    if (root / "model").is_dir() and root.name[:1] == "M" and root.name[1:].isdigit():
        return f"{root}: model {root.name} of the run in {root.parent}, not a run; try 'srlm status {root.parent}'"
    if (root / "config.json").is_file():
        return f"{root}: a model checkpoint, not a run directory"
    if not (root / "config.yaml").is_file():
        return f"{root}: not a run directory (no config.yaml)"
    return None


def _command(args: argparse.Namespace) -> int:
    root = Path(args.run_dir)
    problem = not_a_run(root)
    if problem:  # before the imports below: a wrong path is answered at once
        raise UserError(problem)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from srlm.pipeline import status
    from srlm.runtime.rundir import RunDir

    table = Table(title=escape(f"srlm run {root}"))  # a path may contain [markup]
    for column in ("step", "done", "rows"):
        table.add_column(column)
    for row in status(RunDir(root)):
        done = "yes" if row["done"] else ("partial" if row["rows"] else "no")
        table.add_row(row["step"], done, "" if row["rows"] is None else str(row["rows"]))
    Console().print(table)
    return 0
