"""``srlm status RUN_DIR``: which stages of a run are done, with row counts."""

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


def _command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from srlm.pipeline import status
    from srlm.runtime.rundir import RunDir

    root = Path(args.run_dir)
    if not (root / "config.yaml").is_file():
        raise UserError(f"{root}: not a run directory (no config.yaml)")
    from rich.markup import escape

    table = Table(title=escape(f"srlm run {root}"))  # a path may contain [markup]
    for column in ("step", "done", "rows"):
        table.add_column(column)
    for row in status(RunDir(root)):
        done = "yes" if row["done"] else ("partial" if row["rows"] else "no")
        table.add_row(row["step"], done, "" if row["rows"] is None else str(row["rows"]))
    Console().print(table)
    return 0
