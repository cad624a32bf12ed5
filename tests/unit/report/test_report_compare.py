"""``srlm report RUN_A RUN_B``: two runs side by side per model and per iteration, written outside
both runs, and a clear one-line error (exit 2) when a path is not a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from srlm.cli import main
from srlm.errors import UserError
from srlm.report import write_comparison
from srlm.report.compare import labels
from srlm.report.files import read_run
from tests.helpers.fake_run import EVALS, TRAIN, make_fake_run
from tests.unit.report.test_report_sections import md_table


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Run A (the fake run) and run B: another name and DPO beta, no M3, a better M2 judge."""
    a = make_fake_run(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "config.yaml").write_text("name: other\nmethod: meta_rewarding\niterations: 2\ndpo:\n  beta: 0.2\n")
    shutil.rmtree(b / "M3")
    data = json.loads((b / "M2" / "eval.json").read_text())
    data["judge"]["pairwise_accuracy_strict"] = 0.9
    data["win_rate_vs_M1"] |= {"score": 0.3, "score_ci": [0.2, 0.4], "wins": 2, "ties": 2, "losses": 16}
    (b / "M2" / "eval.json").write_text(json.dumps(data))
    return a, b


def test_numbers_side_by_side_written_outside_both_runs(two_runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = two_runs
    monkeypatch.chdir(tmp_path)
    html_path, md_path = write_comparison(a, b)
    assert html_path == Path("compare-fake-vs-other") / "report.html"
    assert {p.stem for p in (html_path.parent / "report_files").glob("*.png")} == {"compare_judge", "compare_iterations", "compare_loss"}
    html = html_path.read_text()
    assert html.count('src="data:image/png;base64,') == 3 and "could not be built" not in html
    assert not (a / "report.html").exists() and not (b / "report.html").exists()
    markdown = md_path.read_text()
    assert {row["config key"]: row for row in md_table(markdown, "config key")} == {
        "pairs.length_unit": {"config key": "pairs.length_unit", "fake": "tokens", "other": "(absent)"},
        "dpo.beta": {"config key": "dpo.beta", "fake": "(absent)", "other": "0.2"}}
    assert "Scores: fake: written digit; other: written digit." in markdown
    judge = {row["metric"]: row for row in md_table(markdown, "metric")}
    assert judge["pairwise_accuracy_strict"]["fake M2"] == "0.804 [0.704, 0.884]" and judge["pairwise_accuracy_strict"]["other M2"] == "0.900 [0.704, 0.884]"
    assert judge["pairwise_accuracy_strict"]["other M3"] == "n/a" and judge["pairwise_accuracy_strict"]["chance"] == "0.500"
    assert judge["kendall"]["fake M1"] == f"{EVALS[1]['judge']['kendall']:.3f}"
    wins = {row["comparison"]: row for row in md_table(markdown, "comparison")}
    assert wins["M2 vs M1"]["other: score [95 % CI] (wins / ties / losses)"] == "0.300 [0.200, 0.400] (2 / 2 / 16)"
    assert wins["M3 vs M1"]["other: score [95 % CI] (wins / ties / losses)"] == "n/a"
    training = {row["model"]: row for row in md_table(markdown, "model")}
    assert training["M3"] == {"model": "M3", "fake final loss": f"{TRAIN[3]['final_loss']:.3f}", "fake seconds": "24.1", "other final loss": "n/a", "other seconds": "n/a"}


def test_runs_with_the_same_name_are_a_and_b(tmp_path: Path) -> None:
    a, b = make_fake_run(tmp_path / "x" / "run"), make_fake_run(tmp_path / "y" / "run")
    assert labels(read_run(a), read_run(b)) == ("A", "B")


def test_a_path_that_is_not_a_run_is_named(two_runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_runs
    with pytest.raises(UserError, match="the same run directory"):
        write_comparison(a, a)
    with pytest.raises(UserError, match="is a run directory; write the comparison elsewhere"):
        write_comparison(a, b, out=a)
    assert main(["report", str(a), str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"srlm: error: {tmp_path / 'nope'}: no such directory (expected a run directory such as runs/tiny)\n"
    assert main(["report", str(tmp_path), str(b)]) == 2
    assert capsys.readouterr().err == f"srlm: error: {tmp_path}: not a run directory (no config.yaml)\n"
    assert main(["report", str(a), str(b), str(a)]) == 2
    assert "give one run directory, or two to compare (got 3)" in capsys.readouterr().err
    assert main(["report", str(a), "--out", str(tmp_path / "o")]) == 2
    assert "--out is for comparing two runs" in capsys.readouterr().err
