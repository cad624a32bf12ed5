"""The experiment scripts' pure parts: the evidence table reads a run's files as they are; the
judge study builds its SFT set and its metrics the way the pipeline does."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.helpers.fakes import FakeBackend

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_evidence_table_reads_every_number_from_the_run(tmp_path: Path) -> None:
    evidence = _script("evidence")
    judge = {"pairwise_accuracy": 0.61, "spearman": 0.3, "parse_rate": 0.9, "ci95": {"pairwise_accuracy": [0.5, 0.7], "spearman": [0.1, 0.45]}}
    _write(tmp_path / "M1" / "eval.json", {"judge": judge})
    _write(tmp_path / "M2" / "eval.json", {"judge": judge, "win_rate_vs_M1": {"wins": 7, "ties": 2, "losses": 3, "score": 0.667, "score_ci": [0.42, 0.875]}})
    _write(tmp_path / "M3" / "eval.json", {"judge": {"pairwise_accuracy": None}})
    _write(tmp_path / "iter1" / "stats.json", {"candidates": {"mean_length_tokens": 55.25}, "judgments": {"histogram": {"4": 3, "5": 1}}})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ift_heldout.jsonl").write_text(json.dumps({"id": "p1", "prompt": "q", "response": "the cat sat on the mat"}) + "\n")
    (tmp_path / "M2" / "win_rate_answers.jsonl").write_text(json.dumps({"id": "p1", "prompt": "q", "answer": "the dog sat on a log"}) + "\n")
    lines = evidence.table(tmp_path).splitlines()
    rows = [line for line in lines if line.startswith("| M")]
    assert [r.split(" | ")[0] for r in rows] == ["| M1", "| M2", "| M3"]
    assert "0.61 [0.50, 0.70]" in rows[0] and "0.30 [0.10, 0.45]" in rows[0] and "55.2" in rows[0] and "0.25" in rows[0]
    assert "7 / 2 / 3" in rows[1] and "0.67 [0.42, 0.88]" in rows[1] and "(no iteration)" in rows[1]
    assert "0.50 [0.50, 0.50]" in rows[1] and "6.0" in rows[1]  # ROUGE-L 0.5 (see prompt_filters.rouge_l), 6 words
    assert "n/a" in rows[2] and "not measured" in rows[2]


def test_study_sft_set_is_ift_then_judge_rows_without_heldout_prompts() -> None:
    study = _script("judge_study")
    pool, heldout = study.split_data(seed=0)
    trial = study.Trial(eft=12, ift=5)
    rows = study.sft_rows(trial, pool, seed=0)
    assert len(rows) == 17
    assert [r["prompt"] for r in rows[:5]] == [r["prompt"] for r in pool[:5]]
    assert all(r["response"].rstrip().splitlines()[-1].startswith("Score: ") for r in rows[5:])
    held_prompts = {row["prompt"] for row in heldout}
    assert not any(p["prompt"] in held_prompts for p in pool)
    assert len(heldout) == 48


def test_study_metrics_match_the_metrics_module() -> None:
    """The study judges held-out answers the way the pipeline does and groups them by prompt."""
    study = _script("judge_study")
    from srlm.backends.base import Sampling
    from srlm.evaluation.metrics import Group, reward_model_metrics

    heldout = [
        {"id": "a", "prompt": "qa", "responses": [{"text": "4.0", "score": 5}, {"text": "2.5", "score": 2}, {"text": "3.0", "score": 0}]},
        {"id": "b", "prompt": "qb", "responses": [{"text": "1.0", "score": 4}, {"text": "1.0", "score": 1}]},
    ]

    class ScriptedJudge(FakeBackend):  # writes the score its answer names; no logits, so no expected digits
        batch_size = 16

        def generate(self, conversations: list, sampling: Sampling) -> list[list[str]]:
            return [[f"Fine.\nScore: {c[0]['content'].rsplit('ANSWER ', 1)[1]}"] * sampling.n for c in conversations]

    items = [{"id": f"{row['id']}-r{k}", "prompt_id": row["id"], "prompt": row["prompt"], "response": r["text"]} for row in heldout for k, r in enumerate(row["responses"])]
    conversations = [[{"role": "user", "content": f"judge ANSWER {item['response']}"}] for item in items]
    result = study.judge_and_score(ScriptedJudge(), conversations, items, heldout, Sampling(temperature=0.0, n=1))["text"]
    expected = reward_model_metrics([Group.from_scores([4.0, 2.5, 3.0], [5, 2, 0]), Group.from_scores([1.0, 1.0], [4, 1])])
    assert result["pairwise_accuracy"] == pytest.approx(expected["pairwise_accuracy"])
    assert result["spearman"] == pytest.approx(expected["spearman"])
    low, high = result["pairwise_accuracy_ci95"]
    assert low <= result["pairwise_accuracy"] <= high


def test_published_evidence_table_matches_the_run_files_beside_it() -> None:
    """experiments/results/evidence.md is what evidence.py reads from the run's files kept there."""
    evidence = _script("evidence")
    published = (ROOT / "experiments" / "results" / "evidence.md").read_text()
    rows = [line for line in evidence.table(ROOT / "experiments" / "results" / "tiny_evidence").splitlines() if line.startswith("| M")]
    assert rows and all(row in published for row in rows)


def _rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_control_measurements_read_answers_pairs_and_verdicts_from_the_run(tmp_path: Path) -> None:
    control = _script("control")
    reference = "the cat sat on the mat"
    _rows(tmp_path / "data" / "ift_heldout.jsonl", [{"id": f"h{k}", "prompt": f"q{k}", "response": reference} for k in range(2)])
    _rows(tmp_path / "data" / "ift.jsonl", [{"id": "s0", "prompt": "train q", "response": reference}])
    _rows(tmp_path / "M1" / "win_rate_answers.jsonl", [{"id": "h0", "answer": "a dog"}, {"id": "h1", "answer": "the cat sat on the mat"}])
    _rows(tmp_path / "M2" / "win_rate_answers.jsonl", [{"id": "h0", "answer": "the cat sat"}, {"id": "h1", "answer": "the cat sat on the mat"}])
    _write(tmp_path / "M2" / "eval.json", {"win_rate_vs_M1": {"wins": 1, "ties": 1, "losses": 0, "score": 0.75, "score_ci": [0.5, 1.0]}})
    _rows(tmp_path / "iter1" / "pairs.jsonl", [{"prompt": "train q", "chosen": "a mat", "rejected": "the cat sat on the mat"}])
    _write(tmp_path / "iter1" / "stats.json", {"pairs": {"dropped": {"tie": 2}}, "train": {"steps": 3}})
    found = control.summarize(tmp_path)
    m1, m2 = found["models"]
    assert m1["rouge_l"][0] == pytest.approx(0.5)  # 0 and 1
    assert m2["rouge_l"][0] == pytest.approx((2 * 0.5 / 1.5 + 1) / 2)  # "the cat sat": P 1, R 0.5
    assert m2["rouge_l_change"][0] == pytest.approx((0.5 / 0.75) / 2) and m2["unchanged_vs_M1"] == 1
    assert m2["words_change"][0] == pytest.approx(0.5)  # 2 -> 3 words and 6 -> 6
    pairs = m2["trained_on"]
    assert pairs["agreement_with_reference"] == 0.0 and pairs["optimizer_steps"] == 3 and pairs["dropped"] == {"tie": 2}
    row = [line for line in control.table(found).splitlines() if line.startswith("| M2")][0]
    assert "1/1/0: 0.75 [0.50, 1.00]" in row and "| 1 |" in row


def test_published_calibration_grid_is_its_json_and_lists_every_grid_point() -> None:
    """experiments/results/calibration.md is calibrate.py's rendering of calibration.json, with
    a row for every point of the grid, failed or unfinished ones included."""
    calibrate = _script("calibrate")
    results = json.loads((ROOT / "experiments" / "results" / "calibration.json").read_text())["points"]
    assert set(results) == {name for name, _ in calibrate.GRID}
    assert (ROOT / "experiments" / "results" / "calibration.md").read_text() == calibrate.markdown(results) + "\n"


def test_candidate_spread_counts_complete_prompts_only(tmp_path: Path) -> None:
    control = _script("control")
    (tmp_path / "config.yaml").write_text("candidates:\n  n: 2\n")
    _rows(tmp_path / "data" / "ift.jsonl", [{"id": "s0", "prompt": "q", "response": "the cat sat on the mat"}])
    _rows(tmp_path / "iter1" / "candidates.jsonl.partial", [
        {"prompt_id": "p0", "prompt": "q", "response": "the cat sat on the mat"},
        {"prompt_id": "p0", "prompt": "q", "response": "a dog"},
        {"prompt_id": "p1", "prompt": "q", "response": "half a group"},
    ])
    found = control.candidate_spread(tmp_path, 1)
    assert found["prompts"] == 1 and found["best_minus_worst_rouge_l"][0] == 1.0
    assert found["share_with_spread_at_least_0.05"] == 1.0 and (found["best_words"], found["worst_words"]) == (6, 2)


def test_readme_evidence_table_is_the_one_the_kept_run_files_give() -> None:
    """The README's "Evidence" table, positive control beside self-rewarding, is rebuilt here
    from the held-out answers, evaluations and pairs kept in experiments/results/ (control.py
    --keep), cell by cell: a number typed by hand, or kept files changed without the README,
    fails this test."""
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- evidence-table: python experiments/readme_evidence.py -->\n", "<!-- /evidence-table -->"
    assert start in readme and end in readme
    published = readme.split(start, 1)[1].split(end, 1)[0].strip()
    rebuilt = _script("readme_evidence").readme_table()
    assert published == rebuilt
    assert [line.split(" | ")[0] for line in rebuilt.splitlines()[2:]] == ["| M1", "| M2", "| M3", "| M4"]


def test_a_longer_grid_point_starts_from_the_files_of_the_point_it_extends(tmp_path: Path) -> None:
    calibrate = _script("calibrate")
    donor = tmp_path / "cal_short"
    for t in (1, 2):
        (donor / f"M{t}" / "model").mkdir(parents=True)
        (donor / f"M{t}" / "model" / "model.safetensors").write_bytes(b"weights")
        (donor / f"M{t}" / "COMPLETE").write_text("1\n")
        (donor / f"M{t}" / "trainer").mkdir()
    (donor / "config.yaml").write_text("name: short\n")
    (donor / "iter1").mkdir()
    (donor / "iter1" / "pairs.jsonl").write_text("{}\n")
    longer = tmp_path / "cal_longer"
    calibrate.extend_from(donor, longer)
    assert (longer / "iter1" / "pairs.jsonl").read_text() == "{}\n" and (longer / "M2" / "COMPLETE").exists()
    assert (longer / "M2" / "model").is_symlink() and (longer / "M2" / "model").resolve() == (donor / "M2" / "model").resolve()
    assert not (longer / "M1" / "trainer").exists()  # no optimizer state copied
    with pytest.raises(SystemExit, match="has not run"):
        calibrate.extend_from(tmp_path / "cal_missing", tmp_path / "cal_other")


def test_readme_grid_table_is_the_calibration_results() -> None:
    calibrate = _script("calibrate")
    results = json.loads((ROOT / "experiments" / "results" / "calibration.json").read_text())["points"]
    rows = calibrate.compact(results).splitlines()
    readme = (ROOT / "README.md").read_text()
    assert len(rows) == 2 + len(calibrate.GRID) and all(row in readme for row in rows)
