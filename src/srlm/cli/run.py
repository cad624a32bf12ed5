"""``srlm run CONFIG [key=value ...]``: run or continue a pipeline from a config file."""

from __future__ import annotations

import argparse
import shlex
import sys
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
    from srlm import pipeline
    from srlm.config import load_config
    from srlm.runtime.signals import stoppable

    config = load_config(args.config, args.overrides)
    try:
        # SIGINT and SIGTERM finish the write under way, then stop with 130 / 143.
        with stoppable(resume_command(args)):
            run_dir = pipeline.run(config, force=args.force)
    except Stopped as exc:
        print(f"srlm: {exc}", file=sys.stderr)
        return exc.exit_code
    last = config.iterations + 1
    print(f"run directory: {run_dir.root}")
    print(f"final model:   {run_dir.model(last)}  (M{last})")
    return 0
