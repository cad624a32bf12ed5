"""``srlm.report.sections`` (and its topic modules): numbers that match the run's files, and
robustness on partial or damaged runs. The run directory is written by hand (tests/helpers/fake_run.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from srlm.report import write_report
from tests.helpers.fake_run import EVALS, make_fake_run, stats


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def md_tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every pipe table in the Markdown, each as a list of {header: cell} rows."""
    tables, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            headers, rows, i = _cells(lines[i]), [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(headers, _cells(lines[i]))))
                i += 1
            tables.append(rows)
        i += 1
    return tables


def table_with(markdown: str, first_header: str, column: str) -> list[dict[str, str]]:
    """The first table whose first header is ``first_header`` and that has ``column``."""
    for rows in md_tables(markdown):
        if rows and next(iter(rows[0])) == first_header and column in rows[0]:
            return rows
    raise AssertionError(f"no table with {first_header!r} and {column!r}")


def md_table(markdown: str, first_header: str) -> list[dict[str, str]]:
    return table_with(markdown, first_header, first_header)


def test_markdown_numbers_match_the_files(report: tuple[Path, str, str]) -> None:
    _, _, markdown = report
    judge = {row["metric"]: row for row in md_table(markdown, "metric")}
    # Cells carry the stored 95 % interval; chance is 0.5 pairwise, 1/k! exact, 1/k 5-best (k = 40/8 = 5), 0 correlations.
    assert [judge["pairwise_accuracy_strict"][f"M{t}"] for t in (1, 2, 3)] == ["0.787 [0.687, 0.867]", "0.804 [0.704, 0.884]", "0.817 [0.717, 0.897]"]
    assert "pairwise_accuracy" not in judge  # the ambiguous name is not a row beside its tie-half twin
    assert "compare it, not the tie-half value, with SR Table 4" in markdown
    assert [judge[k]["chance"] for k in ("pairwise_accuracy_strict", "exact_match", "five_best", "spearman", "kendall", "parse_rate")] == \
        ["0.500", "0.008", "0.200", "0.000", "0.000", ""]
    assert judge["spearman"]["M2"] == "0.410 [0.100, 0.700]"
    for t, data in EVALS.items():
        for key in ("pairwise_accuracy_untied", "pairwise_accuracy_tie_half", "judge_tie_share", "exact_match", "five_best", "kendall", "parse_rate", "share_top_score"):
            assert judge[key][f"M{t}"] == f"{data['judge'][key]:.3f}"
        assert judge["mean_judge_score (written digit)"][f"M{t}"] == f"{data['judge']['mean_judge_score']:.3f}"
    assert "n_responses" not in judge and table_with(markdown, "count", "M3")[0] == {"count": "n_responses", "M1": "40", "M2": "40", "M3": "40"}
    wins = {row["comparison"]: row for row in md_table(markdown, "comparison")}
    assert (wins["M2 vs M1"]["wins"], wins["M2 vs M1"]["ties"], wins["M2 vs M1"]["losses"]) == ("12", "5", "3")
    assert wins["M3 vs M1"]["score"] == "0.825"

    histogram = {row["iteration"]: row for row in table_with(markdown, "iteration", "score 5")}
    for t in (1, 2):
        counts = stats(t)["judgments"]["histogram"]
        assert [histogram[f"iter{t}"][f"score {s}"] for s in counts] == [str(v) for v in counts.values()]
        assert histogram[f"iter{t}"]["share of 5s"] == f"{counts['5'] / sum(counts.values()):.3f}"

    pairs = {row["iteration"]: row for row in table_with(markdown, "iteration", "dropped: tie")}
    prompts = {row["iteration"]: row for row in table_with(markdown, "iteration", "dropped: too_short")}
    for t in (1, 2):
        s = stats(t)
        assert pairs[f"iter{t}"]["kept"] == str(s["pairs"]["kept"])
        assert pairs[f"iter{t}"]["dropped: tie"] == str(s["pairs"]["dropped"]["tie"])
        assert prompts[f"iter{t}"]["generated"] == str(s["prompts"]["generated"])
        assert prompts[f"iter{t}"]["dropped: near_duplicate_of_seed"] == str(s["prompts"]["dropped"]["near_duplicate_of_seed"])

    lengths = {row["iteration"]: row for row in table_with(markdown, "iteration", "candidates (tokens)")}
    assert [lengths[f"iter{t}"]["candidates (tokens)"] for t in (1, 2)] == ["100.5", "201.0"]
    assert [lengths[f"iter{t}"]["chosen (tokens)"] for t in (1, 2)] == ["120.0", "240.0"]

    meta = table_with(markdown, "iteration", "first-position win share")[0]
    assert meta["iteration"] == "iter2"
    assert meta["first-position win share"] == "0.667" and meta["verdict parse rate"] == "0.900"
    assert meta["higher-score win share"] == "0.850" and meta["judge pairs trained on"] == "yes"
    parse = {row["iteration"]: row for row in table_with(markdown, "iteration", "meta verdict failure rate")}
    assert parse["iter1"]["unparsed"] == "11" and parse["iter1"]["meta verdict failure rate"] == "n/a"
    assert parse["iter2"]["meta verdict failure rate"] == "0.100"


def test_sections_say_not_yet_available_on_an_empty_run(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: empty\nmethod: meta_rewarding\n")
    html_path, md_path = write_report(tmp_path)
    html, markdown = html_path.read_text(), md_path.read_text()
    assert "<img " not in html and not list((tmp_path / "report_files").glob("*.png"))
    assert markdown.count("Not yet available") >= 9
    assert "could not be built" not in markdown


@pytest.mark.parametrize("damage", ["only_models", "iter1_prompts_only", "wrong_types", "torn_json", "bad_pair_line", "no_stats"])
def test_partial_and_damaged_runs_still_report(tmp_path: Path, damage: str) -> None:
    run = make_fake_run(tmp_path / "run")
    if damage == "only_models":
        shutil.rmtree(run / "iter1")
        shutil.rmtree(run / "iter2")
    elif damage == "iter1_prompts_only":
        shutil.rmtree(run / "iter2")
        (run / "iter1" / "stats.json").write_text(json.dumps({"prompts": stats(1)["prompts"]}))
        (run / "iter1" / "pairs.jsonl").unlink()
    elif damage == "wrong_types":
        bad = {"prompts": {"kept": "many", "dropped": ["x"]}, "candidates": [], "pairs": {"dropped": {"tie": "2"}},
               "judgments": {"parse_rate": None, "histogram": [1, 2, 3]}, "meta": {"first_position_wins": True}}
        (run / "iter1" / "stats.json").write_text(json.dumps(bad))
        (run / "M2" / "eval.json").write_text(json.dumps({"judge": {"pairwise_accuracy": "high"}, "win_rate_vs_M1": {"wins": None}}))
        (run / "M3" / "eval.json").write_text(json.dumps(["not", "a", "dict"]))
    elif damage == "torn_json":
        (run / "iter2" / "stats.json").write_text('{"prompts": {"kept": 3')
    elif damage == "bad_pair_line":
        with open(run / "iter1" / "pairs.jsonl", "a") as handle:
            handle.write('{"prompt": "cut off\n')
    elif damage == "no_stats":
        (run / "iter1" / "stats.json").unlink()
        (run / "iter2" / "stats.json").unlink()
    html_path, md_path = write_report(run)
    html, markdown = html_path.read_text(), md_path.read_text()
    assert "could not be built" not in markdown
    assert html.count("<img ") == len(list((run / "report_files").glob("*.png")))
    if damage in ("only_models", "no_stats"):
        assert "Not yet available: no iter*/stats.json" in markdown
    if damage == "only_models":
        assert "Not yet available: no iter*/pairs.jsonl yet." in markdown
        assert {p.stem for p in (run / "report_files").glob("*.png")} == {"judge_metrics", "win_rates", "loss_curves"}
    if damage == "iter1_prompts_only":
        assert "Not yet available: no iter*/stats.json with a 'pairs' section yet." in markdown
        assert "Not yet available: no iter*/stats.json with a judgments histogram yet." in markdown
    if damage in ("torn_json", "bad_pair_line"):
        assert "Files that could not be read:" in markdown


def test_win_rates_not_measured_and_meta_not_used_in_a_self_rewarding_run(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", method="self_rewarding")
    for t in (2, 3):
        (run / f"M{t}" / "eval.json").write_text(json.dumps({"judge": EVALS[t]["judge"]}))
    data = stats(2)
    del data["meta"]
    (run / "iter2" / "stats.json").write_text(json.dumps(data))
    (run / "iter2" / "judge_pairs.jsonl").unlink()
    markdown = write_report(run)[1].read_text()
    assert "Not measured: no M*/eval.json has a win_rate entry" in markdown
    assert "Not used: this run's method is self_rewarding" in markdown
    assert not (run / "report_files" / "win_rates.png").exists()
    assert not (run / "report_files" / "meta_position.png").exists()


def test_nested_win_rate_dict_and_stale_figures_removed(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    write_report(run)
    assert (run / "report_files" / "meta_position.png").exists()
    data = stats(2)
    del data["meta"]
    (run / "iter2" / "stats.json").write_text(json.dumps(data))
    evaluation = {"judge": EVALS[2]["judge"], "win_rates": {"vs_M1": EVALS[2]["win_rate_vs_M1"]}}
    (run / "M2" / "eval.json").write_text(json.dumps(evaluation))
    markdown = write_report(run)[1].read_text()
    assert "| M2 vs M1 | 12 | 5 | 3 |" in markdown
    assert not (run / "report_files" / "meta_position.png").exists()


def test_an_eval_json_from_before_the_strict_value_shows_its_tie_half_value_under_the_old_name() -> None:
    from srlm.report.sections_metrics import metric_keys

    old = [{"pairwise_accuracy": 0.6, "exact_match": 0.2}]  # written when the tie-half value was the only one
    assert metric_keys(old) == ["pairwise_accuracy", "exact_match"]  # never a strict value guessed from it
    assert metric_keys([{"pairwise_accuracy": 0.6, "pairwise_accuracy_tie_half": 0.6}]) == ["pairwise_accuracy_tie_half"]
