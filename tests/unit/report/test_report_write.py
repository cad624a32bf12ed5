"""``srlm.report.write_report``: both files, every figure as a PNG, a self-contained page, and
the refusal of a folder that is no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.errors import UserError
from srlm.report import write_report

FIGURES = {"judge_metrics", "win_rates", "score_histograms", "lengths", "parse_failures", "prompts", "pairs", "meta_pairs", "meta_position", "loss_curves"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_writes_both_files_with_every_figure(report: tuple[Path, str, str]) -> None:
    run, html, markdown = report
    assert (run / "report.html").is_file() and (run / "report.md").is_file()
    assert html.count("<img ") == len(FIGURES) == html.count('src="data:image/png;base64,')
    written = {p.stem for p in (run / "report_files").glob("*.png")}
    assert written == FIGURES
    for name in FIGURES:
        assert f"](report_files/{name}.png)" in markdown
        assert (run / "report_files" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    # Self-contained: nothing is fetched from anywhere.
    assert "http://" not in html and "https://" not in html and 'src="report_files' not in html
    assert "could not be built" not in html and "Not yet available" not in html


def test_refuses_a_folder_that_is_no_run_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a run directory"):
        write_report(tmp_path)
