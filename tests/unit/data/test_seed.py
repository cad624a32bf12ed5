"""Seed-data loaders: every validation error names file, line and key; the bundled set is sound."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from srlm.data.seed import bundled_path, load_eft, load_ift, read_jsonl, write_jsonl
from srlm.errors import UserError

IFT_OK = {"prompt": "Say hi.", "response": "Hi!"}
EFT_OK = {
    "prompt": "Say hi.",
    "responses": [{"text": "Hi!", "rank": 0}, {"text": "Go.", "rank": 1}],
}


def write_lines(path: Path, lines: list[str | dict]) -> Path:
    """Write raw lines (dicts as JSON) to ``path``."""
    text = "\n".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def error_of(loader, path: Path) -> str:
    with pytest.raises(UserError) as info:
        loader(path)
    return str(info.value)


# --------------------------------------------------------------------------- read_jsonl


def test_read_jsonl_skips_blank_lines_and_keeps_true_line_numbers(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"x": 1}, "", "   ", {"x": 2}])
    assert read_jsonl(path) == [(1, {"x": 1}), (4, {"x": 2})]


def test_read_jsonl_missing_file(tmp_path):
    message = error_of(read_jsonl, tmp_path / "nope.jsonl")
    assert "nope.jsonl" in message and "not found" in message


def test_read_jsonl_invalid_utf8(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"x": 1}\n{"x": "\xff\xfe"}\n')
    message = error_of(read_jsonl, path)
    assert f"{path}:2:" in message and "UTF-8" in message


def test_read_jsonl_broken_json(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [{"x": 1}, {"x": 2}, '{"x": 3'])
    message = error_of(read_jsonl, path)
    assert f"{path}:3:" in message and "invalid JSON" in message


@pytest.mark.parametrize("line, kind", [("[1, 2]", "list"), ('"text"', "str"), ("7", "int")])
def test_read_jsonl_rejects_non_objects(tmp_path, line, kind):
    path = write_lines(tmp_path / "bad.jsonl", [line])
    message = error_of(read_jsonl, path)
    assert f"{path}:1:" in message and "JSON object" in message and kind in message


def test_read_jsonl_reads_gzip_and_tolerates_bom_and_crlf(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"x": 1}\n{"x": 2}\n'))
    assert read_jsonl(gz) == [(1, {"x": 1}), (2, {"x": 2})]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"x": 1}\r\n{"x": 2}\r\n')
    assert read_jsonl(bom) == [(1, {"x": 1}), (2, {"x": 2})]


def test_read_jsonl_corrupt_gzip_is_a_user_error(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(b"not gzip at all")
    assert "a.jsonl.gz" in error_of(read_jsonl, gz)


# --------------------------------------------------------------------------- load_ift


def test_load_ift_assigns_ids_and_keeps_extra_keys(tmp_path):
    rows = [IFT_OK, {"id": "mine", "prompt": "P", "response": "R", "category": "x"}, IFT_OK]
    loaded = load_ift(write_lines(tmp_path / "train.jsonl", rows))
    assert [r["id"] for r in loaded] == ["train-1", "mine", "train-3"]
    assert loaded[1]["category"] == "x"


@pytest.mark.parametrize(
    "row, key, words",
    [
        ({"response": "R"}, "prompt", "missing"),
        ({"prompt": "P"}, "response", "missing"),
        ({"prompt": 3, "response": "R"}, "prompt", "must be a string"),
        ({"prompt": "P", "response": ["R"]}, "response", "must be a string"),
        ({"prompt": "P", "response": ""}, "response", "empty"),
        ({"prompt": " \n\t", "response": "R"}, "prompt", "whitespace"),
        ({"id": 5, "prompt": "P", "response": "R"}, "id", "must be a string"),
        ({"id": "  ", "prompt": "P", "response": "R"}, "id", "empty"),
    ],
)
def test_load_ift_errors_name_file_line_and_key(tmp_path, row, key, words):
    path = write_lines(tmp_path / "ift.jsonl", [IFT_OK, "", row])
    message = error_of(load_ift, path)
    assert f"{path}:3:" in message and f"'{key}'" in message and words in message


def test_load_ift_duplicate_id(tmp_path):
    rows = [{"id": "a", **IFT_OK}, {"id": "b", **IFT_OK}, {"id": "a", **IFT_OK}]
    path = write_lines(tmp_path / "ift.jsonl", rows)
    message = error_of(load_ift, path)
    assert f"{path}:3:" in message and "duplicate id 'a'" in message and "'id'" in message


def test_load_ift_explicit_id_colliding_with_generated_one(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", [IFT_OK, {"id": "x-1", **IFT_OK}])
    assert "duplicate id 'x-1'" in error_of(load_ift, path)


# --------------------------------------------------------------------------- load_eft


def test_load_eft_accepts_ranks_scores_and_judgments(tmp_path):
    scored = {
        "id": "s",
        "prompt": "P",
        "responses": [{"text": "A", "score": 4.5, "judgment": "Good.\nScore: 4.5", "kind": "g"}],
    }
    loaded = load_eft(write_lines(tmp_path / "eft.jsonl", [EFT_OK, scored]))
    assert loaded[0]["id"] == "eft-1"
    assert loaded[1]["responses"][0]["kind"] == "g"  # extra keys survive


def resp(**kw) -> dict:
    return {"prompt": "P", "responses": [kw]}


@pytest.mark.parametrize(
    "row, key, words",
    [
        ({"responses": [{"text": "A", "rank": 0}]}, "prompt", "missing"),
        ({"prompt": "P"}, "responses", "missing"),
        ({"prompt": "P", "responses": "A"}, "responses", "must be a list"),
        ({"prompt": "P", "responses": []}, "responses", "empty"),
        ({"prompt": "P", "responses": ["A"]}, "responses[0]", "must be an object"),
        (resp(rank=0), "responses[0].text", "missing"),
        (resp(text="  ", rank=0), "responses[0].text", "empty"),
        (resp(text=1, rank=0), "responses[0].text", "must be a string"),
        (resp(text="A"), "responses[0].rank", "exactly one"),
        (resp(text="A", rank=0, score=3), "responses[0].rank", "exactly one"),
        (resp(text="A", rank=-1), "responses[0].rank", ">= 0"),
        (resp(text="A", rank=1.0), "responses[0].rank", "integer"),
        (resp(text="A", rank=True), "responses[0].rank", "integer"),
        (resp(text="A", score="4"), "responses[0].score", "number"),
        (resp(text="A", score=False), "responses[0].score", "number"),
        (resp(text="A", score=5.5), "responses[0].score", "[0, 5]"),
        (resp(text="A", score=-1), "responses[0].score", "[0, 5]"),
        (resp(text="A", score=3, judgment=""), "responses[0].judgment", "empty"),
        (resp(text="A", score=3, judgment=4), "responses[0].judgment", "must be a string"),
        (
            {"prompt": "P", "responses": [{"text": "A", "rank": 0}, {"text": "B", "score": 1}]},
            "responses",
            "mixes",
        ),
    ],
)
def test_load_eft_errors_name_file_line_and_key(tmp_path, row, key, words):
    path = write_lines(tmp_path / "eft.jsonl", [EFT_OK, row])
    message = error_of(load_eft, path)
    assert f"{path}:2:" in message and f"'{key}" in message and words in message


def test_load_eft_second_response_is_located(tmp_path):
    row = {"prompt": "P", "responses": [{"text": "A", "rank": 0}, {"text": "B", "rank": "1"}]}
    message = error_of(load_eft, write_lines(tmp_path / "eft.jsonl", [row]))
    assert "'responses[1].rank'" in message


def test_load_eft_duplicate_id(tmp_path):
    path = write_lines(tmp_path / "eft.jsonl", [{"id": "q", **EFT_OK}, {"id": "q", **EFT_OK}])
    message = error_of(load_eft, path)
    assert f"{path}:2:" in message and "duplicate id 'q'" in message


# --------------------------------------------------------------------------- write_jsonl


def test_write_jsonl_round_trips_unicode_without_escapes(tmp_path):
    path = tmp_path / "out.jsonl"
    rows = [{"id": "1", "prompt": "Café {x}?", "response": "日本語 ✓"}]
    write_jsonl(path, rows)
    assert "Café" in path.read_text(encoding="utf-8") and "\\u" not in path.read_text()
    assert [row for _, row in read_jsonl(path)] == rows
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_write_jsonl_failure_leaves_old_file_intact(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(TypeError):
        write_jsonl(path, [{"a": 2}, {"b": object()}])
    assert read_jsonl(path) == [(1, {"a": 1})]


# --------------------------------------------------------------------------- bundled data


def test_bundled_path_finds_files_and_rejects_unknown_names():
    assert bundled_path("ift_seed.jsonl").is_file()
    with pytest.raises(UserError, match="no_such.jsonl"):
        bundled_path("no_such.jsonl")


CATEGORIES = {
    "explanation", "advice", "creative_writing", "rewriting", "summary", "list",
    "classification", "arithmetic", "coding", "factual", "refusal",
}  # fmt: skip


def test_bundled_ift_seed_is_large_varied_and_unique():
    rows = load_ift(bundled_path("ift_seed.jsonl"))
    assert len(rows) >= 180
    prompts = [" ".join(r["prompt"].lower().split()) for r in rows]
    assert len(set(prompts)) == len(prompts)
    assert [r["id"] for r in rows] == [f"seed-{i:04d}" for i in range(1, len(rows) + 1)]
    counts = Counter(r["category"] for r in rows)
    assert set(counts) == CATEGORIES and min(counts.values()) >= 12


def test_bundled_ift_seed_answers_are_short_enough_for_a_small_model():
    words = [len(r["response"].split()) for r in load_ift(bundled_path("ift_seed.jsonl"))]
    assert sum(30 <= n <= 120 for n in words) >= 0.7 * len(words)
    assert max(words) <= 150
