"""``srlm validate CONFIG [key=value ...]`` and ``srlm validate --keys``: print the resolved
config, or the first error in it, or every config key with its default and help.

Beyond the config itself, validate runs the pre-flight checks (``pipeline.preflight``): the
models resolve locally, the seed files exist and parse, the templates hold their fields."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from srlm.errors import UserError


def add_command(subparsers: Any) -> None:
    """Register ``srlm validate``."""
    validate = subparsers.add_parser("validate", help="print the resolved config, or the first error in it")
    validate.add_argument("config", nargs="?", help="YAML config")
    validate.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    validate.add_argument("--keys", action="store_true", help="list every config key with its default and help")
    validate.add_argument("--no-preflight", action="store_true", help="check the config only: skip looking for its models, data files and templates")
    validate.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
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
    if not args.no_preflight:
        from srlm.pipeline import preflight

        for line in preflight(config):
            print(f"# ok: {line}", file=sys.stderr)
    print(f"# {args.config}: valid", file=sys.stderr)
    return 0
