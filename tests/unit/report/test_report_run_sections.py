"""The report's training, timings and config sections, the judge metrics' generic keys, intervals
and chance levels, the labels of written and expected digit means, and honest axes (figures
checked on matplotlib's own objects, before they become PNG)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.report import plots
from srlm.report.files import read_run
from srlm.report.render import Section, render_markdown
from srlm.report.sections import key_numbers
from srlm.report.sections_metrics import chance_level, judge_metrics, metric_keys
from srlm.report.sections_run import config, timings, training
from tests.helpers.fake_run import TRAIN, make_fake_run, trainer_state
from tests.unit.report.test_report_sections import md_table, md_tables, table_with


def markdown_of(run: Path, *makers) -> str:
    files = read_run(run)
    return render_markdown("t", [Section(m.__name__, m.__name__, m(files)) for m in makers], "img")


def test_training_table_loss_curve_and_last_logged_values(report: tuple[Path, str, str]) -> None:
    run, html, markdown = report
    rows = {row["model"]: row for row in md_table(markdown, "model") if "trained by" in row}
    assert [rows[f"M{t}"]["trained by"] for t in (1, 2, 3)] == ["SFT", "DPO", "DPO"]
    history = trainer_state(2)["log_history"]
    assert rows["M2"]["first logged loss"] == f"{history[0]['loss']:.3f}" and rows["M2"]["last logged loss"] == f"{history[-2]['loss']:.3f}"
    assert rows["M3"]["first logged loss"] == "n/a"  # M3 kept no trainer_state.json
    assert [rows[f"M{t}"]["final loss (train.json)"] for t in (1, 2, 3)] == [f"{TRAIN[t]['final_loss']:.3f}" for t in (1, 2, 3)]
    assert (run / "report_files" / "loss_curves.png").is_file() and "](report_files/loss_curves.png)" in markdown
    logged = {row["logged key"]: row for row in md_table(markdown, "logged key")}
    assert logged["rewards/accuracies"] == {"logged key": "rewards/accuracies", "M1": "n/a", "M2": "1.000"}
    assert logged["learning_rate"]["M1"] == "2.50e-05"  # not 0.000
    assert "<details><summary>Last logged value of every number in the training logs</summary>" in html


def test_loss_curves_skipped_with_a_note_and_damaged_logs_noted(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    (run / "M1" / "trainer_state.json").unlink()
    (run / "M2" / "trainer_state.json").write_text('{"log_history": ')
    markdown = markdown_of(run, training)
    assert "Loss curves: not available, no M*/trainer_state.json (the model's training log) in this run." in markdown
    assert "| M2 | DPO | 15 | 4 | n/a | n/a | 0.493 | 25.9 |" in markdown
    assert read_run(run).problems[0].startswith(str(run / "M2" / "trainer_state.json"))
    (run / "M2" / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1, "train_loss": 0.69}]}))
    assert "Loss curves: the training logs hold no logged loss" in markdown_of(run, training)


def test_timings_list_what_was_recorded_once(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    stats = json.loads((run / "iter1" / "stats.json").read_text())
    stats["train"] = TRAIN[2]  # the pipeline repeats M2/train.json in iter1/stats.json: listed once
    stats["candidates"]["seconds"] = 12.0
    (run / "iter1" / "stats.json").write_text(json.dumps(stats))
    rows = {row["what"]: row for row in md_table(markdown_of(run, timings), "what")}
    total = sum(TRAIN[t]["seconds"] for t in (1, 2, 3)) + 12.0
    assert list(rows) == [f"M{t} training ({kind}), M{t}/train.json seconds" for t, kind in ((1, "SFT"), (2, "DPO"), (3, "DPO"))] + ["iter1 stats.json candidates.seconds"]
    assert rows["iter1 stats.json candidates.seconds"]["share of recorded time"] == f"{12.0 / total:.1%}"
    assert rows["M1 training (SFT), M1/train.json seconds"]["minutes"] == "3.0"


def test_config_table_keeps_values_as_written(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    (run / "config.yaml").write_text("name: fake\nmodel: m\ndpo:\n  learning_rate: 5.0e-06\n  lora: {}\nstop: [a, b]\nx: null\n")
    rows = {row["key"]: row["value"] for row in md_table(markdown_of(run, config), "key")}
    assert rows == {"name": "fake", "model": "m", "dpo.learning_rate": "5e-06", "dpo.lora": "{}", "stop": '["a", "b"]', "x": "null"}


def test_written_and_expected_digit_means_are_labelled_apart(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    row = md_table(markdown_of(run, key_numbers), "iteration")[0]
    assert "mean written score" in row and "mean chosen score (written digit)" in row
    (run / "config.yaml").write_text("name: fake\njudge:\n  scoring: expected\n")
    row = md_table(markdown_of(run, key_numbers), "iteration")[0]
    assert "mean written score" in row and "mean chosen score (expected digit)" in row and "mean rejected score (expected digit)" in row


def test_new_eval_keys_show_up_and_chance_levels() -> None:
    judged = [{"pairwise_accuracy": 0.6, "pairwise_accuracy_ties_zero": 0.4, "judge_tie_share": 0.3, "mean_judge_score": 3.1,
               "n_pairs": 50, "spearman": -0.2, "ci95": {}}, {"pairwise_accuracy": 0.7, "judge_tie_share": 0.1}]
    assert metric_keys(judged) == ["judge_tie_share", "pairwise_accuracy", "spearman", "pairwise_accuracy_ties_zero"]
    assert chance_level("pairwise_accuracy_ties_zero", {}) == 0.5 and chance_level("judge_tie_share", {}) is None
    assert chance_level("exact_match", {"n_groups": 2, "n_responses": 8}) == pytest.approx(1 / 24)
    assert chance_level("five_best", {"n_groups": 0, "n_responses": 8}) is None


def test_a_new_pairwise_key_is_tabled_with_its_interval_and_chance(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    data = json.loads((run / "M2" / "eval.json").read_text())
    data["judge"] |= {"pairwise_accuracy_ties_zero": 0.61, "judge_tie_share": 0.2}
    data["judge"]["ci95"]["pairwise_accuracy_ties_zero"] = [0.5, 0.7]
    (run / "M2" / "eval.json").write_text(json.dumps(data))
    rows = {row["metric"]: row for row in table_with(markdown_of(run, judge_metrics), "metric", "M2")}
    assert rows["pairwise_accuracy_ties_zero"] == {"metric": "pairwise_accuracy_ties_zero", "chance": "0.500", "M1": "n/a", "M2": "0.610 [0.500, 0.700]", "M3": "n/a"}
    assert rows["judge_tie_share"]["chance"] == "" and rows["judge_tie_share"]["M2"] == "0.200"


def test_length_axes_start_at_zero_and_metric_bars_carry_intervals_and_chance() -> None:
    fig = plots.lines_figure(["iter1", "iter2"], {"length": {"all": [43.1, 42.6]}}, {}, zero=True)
    assert fig.axes[0].get_ylim()[0] == 0 and fig.axes[0].get_ylim()[1] >= 43.1
    loose = plots.lines_figure(["iter1", "iter2"], {"length": {"all": [43.1, 42.6]}}, {})
    assert loose.axes[0].get_ylim()[0] > 42  # what zero=True prevents
    fig = plots.grouped_bars_figure(["pairwise", "spearman", "parse"], {"M1": [0.6, 0.2, 1.0], "M2": [0.7, None, 1.0]}, "t", "v",
                                    intervals={"M1": [(0.5, 0.7), (0.0, 0.4), None], "M2": [(0.6, 0.8), None, None]}, chance=[0.5, 0.0, None])
    ax = fig.axes[0]
    assert len(ax.collections) - 1 == 3  # three error bars, one LineCollection of chance segments
    segments = ax.collections[-1].get_segments()
    assert [(round(s[0][1], 3), round(s[1][1], 3)) for s in segments] == [(0.5, 0.5), (0.0, 0.0)]
    assert "chance" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_expected_digit_metrics_and_their_written_digit_twin_are_labelled(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    data = json.loads((run / "M1" / "eval.json").read_text())
    data["judge"]["text_scoring"] = {"pairwise_accuracy": 0.5, "mean_judge_score": 1.0, "ci95": {"pairwise_accuracy": [0.5, 0.5]}}
    (run / "M1" / "eval.json").write_text(json.dumps(data))
    markdown = markdown_of(run, judge_metrics)
    assert "Scores: the expected digit from the judge's probabilities" in markdown
    main, twin = [{row["metric"]: row for row in rows} for rows in md_tables(markdown) if "metric" in rows[0]]
    assert main["mean_judge_score (expected digit)"]["M1"] == "3.200"
    assert twin["mean_judge_score (written digit)"] == {"metric": "mean_judge_score (written digit)", "chance": "", "M1": "1.000"}
    assert twin["pairwise_accuracy"]["M1"] == "0.500 [0.500, 0.500]"
