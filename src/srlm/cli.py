"""The ``srlm`` command: run | validate | status (and more subcommands as they land).

User mistakes end with one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Sequence

from srlm.errors import UserError


def _run(args: argparse.Namespace) -> int:
    from srlm import pipeline
    from srlm.config import load_config

    config = load_config(args.config, args.overrides)
    run_dir = pipeline.run(config, force=args.force)
    last = config.iterations + 1
    print(f"run directory: {run_dir.root}")
    print(f"final model:   {run_dir.model(last)}  (M{last})")
    return 0


def _validate(args: argparse.Namespace) -> int:
    import yaml

    from srlm.config import describe, load_config, to_dict

    if args.keys:
        for key, default, help_text in describe():
            print(f"{key} = {default}\n    {help_text}")
        return 0
    if not args.config:
        raise UserError("validate: give a config file (or --keys to list every key)")
    config = load_config(args.config, args.overrides)
    print(yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True), end="")
    print(f"# {args.config}: valid", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from srlm.pipeline import status
    from srlm.rundir import RunDir

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


# Modules that add their own subcommands: each has ``add_commands(subparsers)``; a handler
# takes the parsed arguments and returns an exit status.
COMMAND_MODULES: tuple[str, ...] = ("srlm.report", "srlm.evaluation.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlm", description="Self-Rewarding and Meta-Rewarding language models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run or continue a pipeline from a config file")
    run.add_argument("config", help="YAML config (see configs/)")
    run.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. dpo.beta=0.2")
    run.add_argument("--force", action="store_true", help="continue a run whose config changed")
    run.set_defaults(func=_run)

    validate = sub.add_parser("validate", help="print the resolved config, or the first error in it")
    validate.add_argument("config", nargs="?", help="YAML config")
    validate.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    validate.add_argument("--keys", action="store_true", help="list every config key with its default and help")
    validate.set_defaults(func=_validate)

    status = sub.add_parser("status", help="which stages of a run are done, with row counts")
    status.add_argument("run_dir", help="a run directory, e.g. runs/tiny")
    status.set_defaults(func=_status)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
