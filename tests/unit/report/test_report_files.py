"""``srlm.report.files``: what ``read_run`` takes from a run directory, what it notes instead of
raising, and the value helpers that read stats files of any shape."""

from __future__ import annotations

from pathlib import Path

from srlm.report.files import EXAMPLES_PER_KIND, first_num, fmt, iterations_with, num, read_run
from tests.helpers.fake_run import make_fake_run


def test_reads_every_file_of_the_fake_run(tmp_path: Path) -> None:
    run = read_run(make_fake_run(tmp_path / "run"))
    assert (run.models, run.iterations, run.problems) == ([1, 2, 3], [1, 2], [])
    assert sorted(run.evals) == [1, 2, 3] and sorted(run.stats) == [1, 2]
    assert run.config["method"] == "meta_rewarding"
    assert [row["kind"] for row in run.examples[1]] == ["actor"] * EXAMPLES_PER_KIND
    assert [row["kind"] for row in run.examples[2]] == ["actor"] * EXAMPLES_PER_KIND + ["judge"]
    assert iterations_with(run, "meta") == [2] and iterations_with(run, "pairs") == [1, 2]


def test_numbers_in_order_and_unreadable_files_noted(tmp_path: Path) -> None:
    root = make_fake_run(tmp_path / "run")
    for name in ("M10", "M9", "Mx", "iter2b"):
        (root / name).mkdir()
    (root / "M9" / "eval.json").write_text('{"judge": ')
    with open(root / "iter1" / "pairs.jsonl", "a") as handle:
        handle.write("not json\n")
    (root / "config.yaml").write_text("- a list\n")
    run = read_run(root)
    assert run.models == [1, 2, 3, 9, 10] and run.iterations == [1, 2]
    assert 9 not in run.evals and run.config == {}
    assert [p.split(": ")[0] for p in run.problems] == [str(root / "M9" / "eval.json"), f"{root / 'iter1' / 'pairs.jsonl'}:6"]


def test_value_helpers() -> None:
    assert [num(v) for v in (3, 2.5, True, "4", None)] == [3, 2.5, None, None, None]
    assert first_num({"a": {"b": "x"}, "c": 2}, "a.b", "c") == 2 and first_num({}, "a") is None
    assert [fmt(v) for v in (None, True, 7, 0.12345, 123.456, [1, 0.5], "text")] == ["n/a", "yes", "7", "0.123", "123.5", "[1, 0.500]", "text"]
