"""The architecture's rules, checked on every test run (README "Architecture").

The import contracts live in ``pyproject.toml`` (``[tool.importlinter]``, run here through
import-linter's own entry point); the rules import-linter cannot say are written below over
the same import graph (grimp) or the source text.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "srlm"
MAX_FUNCTION_LINES = 50


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("srlm", cache_dir=None)


def test_import_contracts_in_pyproject_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    # import-linter configures logging with disable_existing_loggers, which would silence
    # srlm's loggers (the console's among them) for every later test in this process.
    loggers = [logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    enabled = [logger for logger in loggers if not logger.disabled]
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0
    finally:
        for logger in enabled:
            logger.disabled = False


def test_cli_entry_imports_only_config_pipeline_and_its_command_modules(graph: grimp.ImportGraph) -> None:
    allowed = {"srlm", "srlm.config", "srlm.pipeline", "srlm.errors"}  # "srlm": its __version__
    imported = graph.find_modules_directly_imported_by("srlm.cli")
    assert {m for m in imported if not m.startswith("srlm.cli.")} <= allowed


def test_every_subcommand_is_a_module_of_the_cli_package(graph: grimp.ImportGraph) -> None:
    commands = {m for m in graph.find_modules_directly_imported_by("srlm.cli") if m.startswith("srlm.cli.")}
    assert {"srlm.cli.run", "srlm.cli.validate", "srlm.cli.status", "srlm.cli.report"} <= commands
    assert "importlib" not in (SRC / "cli" / "__init__.py").read_text(encoding="utf-8")  # static imports only


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name]


def test_the_generation_loop_exists_once() -> None:
    """Only ``srlm.generation`` shards chunks across processes and appends generated rows."""
    sharding = {str(p.relative_to(SRC)): _calls(p, "shard") for p in SRC.rglob("*.py")}
    assert {path for path, lines in sharding.items() if lines} == {"generation.py"}


def test_no_function_is_longer_than_fifty_lines() -> None:
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "\n".join(long)


def test_source_cites_no_file_the_project_does_not_contain() -> None:
    """Comments once cited an ALGORITHM.md that is not part of the project."""
    cited = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "ALGORITHM.md" in p.read_text(encoding="utf-8")]
    assert not cited
