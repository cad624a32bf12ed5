"""Any text a model (or a server's JSON) can produce survives the run directory's JSONL files:
lone surrogates, U+2028, NULs, carriage returns, very long lines, a line torn by a kill."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from srlm.runtime.rundir import RowLog, read_rows, row_line, write_rows

# Every code point, lone surrogates included (a JSON "\ud800" from a server decodes to one).
ANY_CHAR = st.characters(blacklist_categories=())
TRICKY = st.sampled_from(["\u2028", "\u2029", "\x00", "\r", "\r\n", "\n", "\x85", "\ufeff", "\ud800", "\udfff", "\U0001F600", '"', "\\"])
TEXT = st.lists(st.one_of(ANY_CHAR, TRICKY), max_size=60).map("".join)
ROWS = st.lists(st.fixed_dictionaries({"text": TEXT, "n": st.integers()}), max_size=6).map(
    lambda rows: [{"id": f"r{i}", **row} for i, row in enumerate(rows)]
)
FILES = settings(max_examples=40, deadline=None)


def as_json(rows: list[dict]) -> list[dict]:
    """What any JSON reader makes of ``rows``: a surrogate *pair* held as two code points
    ("\\ud800\\udc00") is one character once escaped, so it reads back joined; everything else,
    lone surrogates included, reads back as it was."""
    return json.loads(json.dumps(rows))


@FILES
@given(ROWS)
def test_write_rows_then_read_rows_gives_the_same_rows(rows: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        write_rows(path, rows)
        assert read_rows(path) == as_json(rows)
        path.read_bytes().decode("utf-8")  # the file itself is valid UTF-8


@FILES
@given(ROWS, ROWS)
def test_row_log_append_reopen_finish_round_trip(first: list[dict], second: list[dict]) -> None:
    second = [{**row, "id": f"s{i}"} for i, row in enumerate(second)]
    with tempfile.TemporaryDirectory() as folder:
        final = Path(folder) / "rows.jsonl"
        RowLog(final).append(first)
        reopened = RowLog(final)  # as after a restart
        assert reopened.rows == as_json(first)
        reopened.append(second + first)  # rows already written are skipped
        assert RowLog(final).finish() == as_json(first + second)
        assert read_rows(final) == as_json(first + second)


@FILES
@given(ROWS, TEXT, st.floats(min_value=0, max_value=1, exclude_max=True))
def test_a_torn_last_line_is_dropped_and_the_rest_kept(rows: list[dict], text: str, cut: float) -> None:
    torn = row_line({"id": "torn", "text": text}).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        final = Path(folder) / "rows.jsonl"
        RowLog(final).append(rows)
        with open(final.with_name("rows.jsonl.partial"), "ab") as handle:
            handle.write(torn[: int(cut * len(torn))])  # a kill in the middle of a write
        log = RowLog(final)
        assert log.rows == as_json(rows) and "torn" not in log.ids


@given(TEXT)
def test_a_row_is_one_line(text: str) -> None:
    line = row_line({"text": text})
    assert line.endswith("\n") and "\n" not in line[:-1] and "\r" not in line
    assert json.loads(line) == as_json([{"text": text}])[0]


def test_very_long_lines_round_trip(tmp_path: Path) -> None:
    rows = [{"id": "long", "text": "word \u2028" * 2_000_000}, {"id": "after", "text": "x"}]
    log = RowLog(tmp_path / "rows.jsonl")
    log.append(rows)
    assert RowLog(tmp_path / "rows.jsonl").rows == rows
    write_rows(tmp_path / "whole.jsonl", rows)
    assert read_rows(tmp_path / "whole.jsonl") == rows
