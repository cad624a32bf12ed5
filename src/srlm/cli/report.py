"""``srlm report RUN_DIR [RUN_B]``: write report.html and report.md with plots (see ``srlm.report``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.errors import UserError


def add_command(subparsers: Any) -> None:
    """Register ``srlm report RUN_DIR`` and ``srlm report RUN_A RUN_B [--out DIR]``."""
    parser = subparsers.add_parser("report", help="write report.html and report.md with plots for a run directory, or compare two runs")
    parser.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="a run directory, e.g. runs/tiny; give two to compare them side by side")
    parser.add_argument("--out", default=None, help="comparison only: the folder to write (default: compare-<A>-vs-<B> in the current directory)")
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm.report import write_comparison, write_report

    if len(args.run_dir) > 2:
        raise UserError(f"report: give one run directory, or two to compare (got {len(args.run_dir)})")
    if len(args.run_dir) == 1:
        if args.out is not None:
            raise UserError("report: --out is for comparing two runs; a run's report is written into the run directory")
        html_path, md_path = write_report(Path(args.run_dir[0]))
    else:
        html_path, md_path = write_comparison(Path(args.run_dir[0]), Path(args.run_dir[1]), None if args.out is None else Path(args.out))
    print(f"report: {html_path}")
    print(f"        {md_path}")
    return 0
