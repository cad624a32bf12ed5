"""``srlm report RUN_DIR``: write report.html and report.md with plots (see ``srlm.report``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_command(subparsers: Any) -> None:
    """Register ``srlm report RUN_DIR``."""
    parser = subparsers.add_parser("report", help="write report.html and report.md with plots for a run directory")
    parser.add_argument("run_dir", help="a run directory, e.g. runs/tiny")
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm.report import write_report

    html_path, md_path = write_report(Path(args.run_dir))
    print(f"report: {html_path}")
    print(f"        {md_path}")
    return 0
