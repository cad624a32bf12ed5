"""The ``srlm`` parser: every subcommand registered in help order, and ``srlm --help`` fast
because building the parser imports no model, pipeline, evaluation or plotting code."""

from __future__ import annotations

import argparse
import subprocess
import sys

from srlm.cli import build_parser

COMMANDS = ["run", "validate", "status", "report", "export", "eval", "compare", "alpaca", "build-eft", "import-oasst", "env"]
HEAVY = ("torch", "transformers", "matplotlib", "yaml", "rich", "srlm.pipeline", "srlm.evaluation", "srlm.report")


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_every_subcommand_in_help_order() -> None:
    commands = _choices(build_parser())
    assert list(commands) == COMMANDS
    assert list(_choices(commands["eval"])) == ["judge"]
    assert list(_choices(commands["alpaca"])) == ["fetch", "generate", "winrate"]


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = ("import sys; from srlm.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
