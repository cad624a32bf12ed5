"""The ``srlm`` command: one thin module per subcommand, registered here in help order.

``run``, ``validate``, ``status``: a pipeline run and its config; ``report``: a run's report;
``export``: a model of a run as a folder for the Hugging Face Hub;
``eval judge``, ``compare``, ``alpaca``: evaluation; ``build-eft``, ``import-oasst`` (``data``):
judge-training and seed data; ``env``: versions, device and caches. Each module has ``add_command(subparsers)`` (``data`` registers
two commands with ``add_commands``); a handler takes the parsed arguments and returns an exit
status. Handlers import what they need (torch, the pipeline, the evaluation code) when they run,
so that ``srlm --help`` stays fast. Shared argument helpers are in ``common``.

User mistakes end with one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from srlm import __version__
from srlm.cli import alpaca, compare, data, env, eval_judge, export, report, run, status, validate
from srlm.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """The ``srlm`` parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="srlm", description="Self-Rewarding and Meta-Rewarding language models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"srlm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_command(sub)
    validate.add_command(sub)
    status.add_command(sub)
    report.add_command(sub)
    export.add_command(sub)
    eval_judge.add_command(sub)
    compare.add_command(sub)
    alpaca.add_command(sub)
    data.add_commands(sub)
    env.add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``srlm`` with ``argv`` (default: the process's arguments) and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"srlm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("srlm: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
