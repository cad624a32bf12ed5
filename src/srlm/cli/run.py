"""``srlm run CONFIG [key=value ...]``: run or continue a pipeline from a config file."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(subparsers: Any) -> None:
    """Register ``srlm run``."""
    run = subparsers.add_parser("run", help="run or continue a pipeline from a config file")
    run.add_argument("config", help="YAML config (see configs/)")
    run.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. dpo.beta=0.2")
    run.add_argument("--force", action="store_true", help="continue a run whose config changed")
    run.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm import pipeline
    from srlm.config import load_config

    config = load_config(args.config, args.overrides)
    run_dir = pipeline.run(config, force=args.force)
    last = config.iterations + 1
    print(f"run directory: {run_dir.root}")
    print(f"final model:   {run_dir.model(last)}  (M{last})")
    return 0
