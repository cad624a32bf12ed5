"""``srlm run CONFIG [key=value ...]``: run or continue a pipeline from a config file."""

from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import nullcontext
from typing import Any

from srlm.errors import Stopped


def add_command(subparsers: Any) -> None:
    """Register ``srlm run``."""
    run = subparsers.add_parser("run", help="run or continue a pipeline from a config file")
    run.add_argument("config", help="YAML config (see configs/)")
    run.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. dpo.beta=0.2")
    run.add_argument("--force", action="store_true", help="continue a run whose config changed")
    run.set_defaults(func=_command)


def resume_command(args: argparse.Namespace) -> str:
    """The command, as the user must type it, that continues this run."""
    return shlex.join(["srlm", "run", args.config, *args.overrides, *(["--force"] if args.force else [])])


def _command(args: argparse.Namespace) -> int:
    """Without -v the console shows srlm's banner, stage lines and summary only; the rest of the
    output (library logs and bars, warnings, the trainer's steps) goes to ``<run>/run.log``."""
    from srlm import pipeline
    from srlm.config import load_config
    from srlm.runtime import console
    from srlm.runtime.signals import stoppable

    config = load_config(args.config, args.overrides)
    try:
        # SIGINT and SIGTERM finish the write under way, then stop with 130 / 143.
        with stoppable(resume_command(args)), (nullcontext() if args.verbose else console.quiet()):
            pipeline.run(config, force=args.force)  # its last console line names the final model
    except Stopped as exc:
        print(f"srlm: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
