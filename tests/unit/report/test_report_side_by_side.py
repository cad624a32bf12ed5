"""The texts shown side by side (``srlm.report.texts`` and ``sections_texts``): each model's answer to
the same held-out prompt with the head-to-head verdicts and the judge's reasons, each model's
judgment of the same held-out EFT response beside the human score, and model text escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

from srlm.report.files import read_run
from srlm.report.render import Section, render_markdown
from srlm.report.sections_texts import answers, judge_reasons
from srlm.report.texts import ANSWER_PROMPTS, JUDGED_PROMPTS
from tests.helpers.fake_run import ANSWER_IDS, ANSWER_INJECTION, HELDOUT, make_fake_run


def markdown_of(run: Path) -> str:
    """The two side-by-side sections alone, as Markdown (no plots to draw: fast)."""
    files = read_run(run)
    return render_markdown("t", [Section("answers", "a", answers(files)), Section("judgments", "j", judge_reasons(files))], "img")


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.DOTALL)
    assert match, anchor
    return match.group(1)


def test_answers_of_every_model_side_by_side_with_the_verdicts(report: tuple[Path, str, str]) -> None:
    _, html, markdown = report
    answers = _section(html, "answers")
    shown = ANSWER_IDS[:ANSWER_PROMPTS]
    assert re.findall(r"<h4>Held-out prompt ([^<]+)</h4>", answers) == list(shown)  # the 4th prompt is not shown
    first = answers.split("<h4>Held-out prompt ")[1]
    assert re.findall(r"<div><h5>(M\d)</h5>", first) == ["M1", "M2", "M3"]
    # Prompt 0: M<t> won in both orders; the others split, which is a tie.
    assert "vs M1: win (verdicts: M2, M2)" in first and "vs M1: win (verdicts: M3, M3)" in first
    assert "**M2**: vs M1: tie (verdicts: M2, M1)" in markdown
    # The judge's reasons, per order, under a title that names the judge.
    assert "<h4>ift-h-0001: M3 vs M1, judged by M1</h4>" in answers
    assert "<h5>M1's answer shown first</h5><p>verdict B: M3 preferred</p><pre>I prefer response B.</pre>" in answers
    assert "<h5>M3's answer shown first</h5><p>verdict A: M3 preferred</p><pre>Response A is better for &lt;0&gt;. Winner: A</pre>" in answers


def test_a_script_in_an_answer_stays_text(report: tuple[Path, str, str]) -> None:
    _, html, markdown = report
    escaped = "&lt;/pre&gt;&lt;/div&gt;&lt;script&gt;document.body.setAttribute(\"data-pwned-answer\",\"1\")&lt;/script&gt;&lt;b&gt;M3 says&lt;/b&gt;"
    for text in (html, markdown):
        assert escaped in text
        assert ANSWER_INJECTION not in text and "<b>M3 says</b>" not in text
    assert html.count("<script>") == 1  # the page's own


def test_each_models_judgment_beside_the_human_score(report: tuple[Path, str, str]) -> None:
    _, html, _ = report
    judged = _section(html, "judgments")
    titles = re.findall(r"<h4>([^<]+)</h4>", judged)
    assert titles == [f"{row['id']}, response {k} ({row['responses'][k]['kind']})" for row in HELDOUT[:JUDGED_PROMPTS] for k in range(2)]
    block = judged.split("<h4>")[2]  # eft-h-0000, response 1
    assert re.findall(r"<div><h5>([^<]+)</h5>", block) == ["people", "M1 as judge", "M2 as judge", "M3 as judge"]
    assert "<p>score 1</p><pre>Vague.\nScore: 1</pre>" in block
    assert "<p>written scores [2.000], mean used 2.000</p><pre>M1 thinks response 1 is worth 2.\nScore: 2</pre>" in block
    assert "<p>written scores [3.000], mean used 3.000</p>" in block  # M2: 4 - 1 - 0
    assert judged.count("<h5>Prompt</h5>") == JUDGED_PROMPTS  # the prompt once, above its first response


def test_additive_verdicts_missing_files_and_bad_lines(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    additive = [{"id": f"{pid}-{side}", "prompt_id": pid, "judgments": [f"Score: {s}"], "scores": [float(s)], "mean_score": float(s)}
                for pid in ANSWER_IDS for side, s in (("a", 4), ("b", 2))]
    (run / "M2" / "win_rate_judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in additive) + "{torn\n")
    (run / "M3" / "win_rate_judgments.jsonl").unlink()
    (run / "M1" / "win_rate_answers.jsonl").unlink()  # the prompts are then taken from M2's file
    files = read_run(run)
    assert sorted(files.texts.answers) == [2, 3] and list(files.texts.answers[2]) == list(ANSWER_IDS[:ANSWER_PROMPTS])
    assert files.problems == [f"{run / 'M2' / 'win_rate_judgments.jsonl'}:{len(additive) + 1}: not JSON"]
    markdown = markdown_of(run)
    assert "**M2**: vs M1: mean score 4.000 against 2.000" in markdown
    assert "**M2's answer, scored alone**: scores [4.000], mean 4.000" in markdown
    assert "**M3**: no verdict recorded" in markdown


def test_not_measured_and_not_yet_available(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    for t in (1, 2, 3):
        for name in ("win_rate_answers.jsonl", "eval_judgments.jsonl"):
            (run / f"M{t}" / name).unlink()
    markdown = markdown_of(run)
    assert "Not yet available: no M*/win_rate_answers.jsonl yet (the head-to-head writes them)." in markdown
    assert "Not yet available: no M*/eval_judgments.jsonl yet (the judge evaluation writes them)." in markdown
    (run / "config.yaml").write_text("name: fake\neval:\n  win_rate_prompts: 0\n")
    assert "Not measured: eval.win_rate_prompts is 0" in markdown_of(run)


def test_rows_of_odd_shapes_do_not_break_the_sections(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run")
    odd_answers = [{"id": "ift-h-0001", "prompt": ["not", "text"], "answer": {"a": 1}}, {"id": 7}, ["a list"]]
    (run / "M2" / "win_rate_answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in odd_answers))
    (run / "M3" / "win_rate_judgments.jsonl").write_text(json.dumps({"prompt_id": "ift-h-0001", "judgments": "one string"}) + "\n")
    (run / "data" / "eft_heldout.jsonl").write_text(json.dumps({"id": "eft-h-0000", "responses": "none"}) + "\n"
                                                    + json.dumps({"id": "eft-h-0001", "responses": [{"text": None}, 3]}) + "\n")
    markdown = markdown_of(run)
    assert '**M2**: vs M1: win (verdicts: M2, M2)\n\n<pre>{"a": 1}</pre>' in markdown  # non-text shown as JSON
    assert "**M3**: no verdict recorded" in markdown  # its one verdict row has neither a winner nor scores
    assert "#### eft-h-0001, response 0 (graded)" in markdown and "**people**: score n/a" in markdown
