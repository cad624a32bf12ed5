"""The report tests' shared fixture: one full report of the hand-written run (tests/helpers/fake_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.report import write_report
from tests.helpers.fake_run import make_fake_run


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One full report, shared by the read-only checks (plotting takes about a second)."""
    run = make_fake_run(tmp_path_factory.mktemp("report") / "run")
    html_path, md_path = write_report(run)
    return run, html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
