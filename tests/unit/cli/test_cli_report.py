"""``srlm report RUN_DIR`` through the command: both paths printed, and exit status 2 for a
folder that is no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.cli import main
from tests.helpers.fake_run import make_fake_run


def test_cli_report_and_refusal_of_a_non_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_fake_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"report: {run / 'report.html'}\n        {run / 'report.md'}\n" == out
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"srlm: error: {tmp_path}: not a run directory (no config.yaml)\n"
