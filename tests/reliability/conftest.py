"""Fixtures of the reliability tests: the fork server, one uninterrupted reference run, and the
terminal summary that prints how many kill points, bad inputs, disk-full cases and polite stops
were tried."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.harness import Runner, attempt_log

COUNTS = pytest.StashKey[dict]()


@pytest.fixture
def counts(request: pytest.FixtureRequest) -> dict:
    """Numbers for the terminal summary (kill points, bad inputs), shared by the whole session."""
    return request.config.stash.setdefault(COUNTS, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(COUNTS, {})
    if not found:
        return
    terminalreporter.section("srlm reliability")
    for line in summary_lines(found):
        terminalreporter.write_line(line)


def summary_lines(found: dict) -> list[str]:
    """The lines printed at the end of the test run (also quoted in docs/reliability.md)."""
    lines = []
    if "kills" in found:
        by_stage = ", ".join(f"{stage} {n}" for stage, n in found["kill_stages"].items())
        lines.append(f"kill points tried: {found['kills']} SIGKILLs in {found['trials']} interrupted runs, all resumed to identical files ({by_stage})")
    if "bad_inputs" in found:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(found["bad_input_kinds"].items()))
        lines.append(f"bad inputs tried: {found['bad_inputs']} ({kinds})")
    if "enospc" in found:
        lines.append(f"disk-full (ENOSPC) cases: {len(found['enospc'])}, each stopped with exit 75 and resumed to identical files ({', '.join(found['enospc'])})")
    if "signals" in found:
        signals = found["signals"]
        by_signal = ", ".join(f"{name} {n}" for name, n in sorted(signals.items()) if name != "points")
        points = ", ".join(f"{point} {n}" for point, n in sorted(signals.get("points", {}).items()))
        lines.append(f"polite stops: {sum(n for name, n in signals.items() if name != 'points')} ({by_signal}; at {points}), each exited 130/143 and resumed to identical files")
    return lines


@pytest.fixture(scope="session")
def runner(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    server = Runner(tiny_model_dir, tmp_path_factory.mktemp("runner") / "kill_runner.log")
    yield server
    server.close()


@pytest.fixture(scope="session")
def reference(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted run: its answer (timeline, injection counts) and its run directory."""
    runs = tmp_path_factory.mktemp("reference")
    answer = runner.attempt(runs)
    assert answer["outcome"] == "exited" and answer["code"] == 0, attempt_log(runs)
    return {**answer, "root": runs / "t"}
