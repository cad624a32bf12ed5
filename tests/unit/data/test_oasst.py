"""oasst1 importer: rows from first-turn conversations, every drop counted, bad input located.

The fixtures hold hand-made conversations, one per drop reason (see the comments in the
expected counts below): ``oasst_small.jsonl`` in the messages format and
``oasst_trees_small.jsonl`` with the same conversations nested as trees (minus the orphan,
which a tree cannot express).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from srlm.data.oasst import import_oasst
from srlm.data.seed import load_eft, load_ift, write_jsonl
from srlm.errors import UserError

FIXTURES = Path(__file__).parents[2] / "fixtures"
MESSAGES = FIXTURES / "oasst_small.jsonl"
TREES = FIXTURES / "oasst_trees_small.jsonl"

EXPECTED_DROPS = {
    "deleted": 2,  # reply a3, root p6
    "review_rejected": 2,  # root p7, reply a10
    "lang_mismatch": 2,  # German root p2, French reply a13
    "empty_text": 2,  # whitespace root p5, empty reply a11
    "root_not_prompter": 1,  # r8
    "orphan": 1,  # a9 answers a message not in the file
    "not_first_turn": 2,  # pd, ad: the second turn of t1
    "parent_dropped": 1,  # a4 under the German root
    "unexpected_role": 1,  # a12: a prompter message under the root
    "no_rank0_reply": 2,  # p4 (ranks 1, 2), p10 (no usable reply)
    "fewer_than_2_ranked": 2,  # p3 (one ranked reply), p10
    "duplicate_ranks": 1,  # p11: two replies with rank 0
}
PROMPT_LEVEL = {"no_rank0_reply", "fewer_than_2_ranked", "duplicate_ranks"}
KEPT_MESSAGES = 13  # p1 a1 a2, p3 a5 a6, p4 a7 a8, p10, p11 a14 a15


def test_messages_format_counts_every_drop_by_reason():
    result = import_oasst(MESSAGES)
    assert result.dropped == EXPECTED_DROPS
    message_drops = sum(n for k, n in result.dropped.items() if k not in PROMPT_LEVEL)
    assert result.messages == 27 == message_drops + KEPT_MESSAGES


def test_ift_rows_are_root_plus_rank0_reply():
    result = import_oasst(MESSAGES)
    assert [r["id"] for r in result.ift] == ["oasst-p1", "oasst-p3"]
    first = result.ift[0]
    assert first["prompt"] == "What is the capital of France?"
    assert first["response"].startswith("The capital of France is Paris")
    assert (first["source"], first["message_tree_id"], first["lang"]) == ("oasst1", "t1", "en")


def test_eft_groups_hold_all_ranked_replies_best_first():
    result = import_oasst(MESSAGES)
    assert [r["id"] for r in result.eft] == ["oasst-p1", "oasst-p4"]
    assert [(x["text"], x["rank"]) for x in result.eft[0]["responses"]] == [
        (result.ift[0]["response"], 0),
        ("Paris.", 1),
    ]
    assert [x["rank"] for x in result.eft[1]["responses"]] == [1, 2]


def test_braces_and_non_ascii_text_survive_and_are_stripped():
    row = import_oasst(MESSAGES).ift[1]
    assert row["prompt"].startswith('How do I format a dict literal like {"a": 1}')
    assert row["response"].startswith('Write it as {"café": 1}; keys')
    assert row["response"].endswith("pairs by commas.")  # stripped, nothing lost


def test_output_rows_pass_the_seed_loaders(tmp_path):
    result = import_oasst(MESSAGES)
    write_jsonl(tmp_path / "ift.jsonl", result.ift)
    write_jsonl(tmp_path / "eft.jsonl", result.eft)
    assert load_ift(tmp_path / "ift.jsonl") == result.ift
    assert load_eft(tmp_path / "eft.jsonl") == result.eft


def test_tree_format_gives_the_same_rows():
    flat, trees = import_oasst(MESSAGES), import_oasst(TREES)
    assert trees.ift == flat.ift and trees.eft == flat.eft
    assert trees.dropped == {k: n for k, n in EXPECTED_DROPS.items() if k != "orphan"}
    assert trees.messages == 26


def test_gzipped_export_is_read(tmp_path):
    path = tmp_path / "oasst.jsonl.gz"
    path.write_bytes(gzip.compress(MESSAGES.read_bytes()))
    assert import_oasst(path).ift == import_oasst(MESSAGES).ift


def test_other_languages_and_no_filter():
    german = import_oasst(MESSAGES, lang="de")
    assert [r["id"] for r in german.ift] == ["oasst-p2"] and german.eft == []
    everything = import_oasst(MESSAGES, lang=None)
    assert "lang_mismatch" not in everything.dropped
    assert [r["id"] for r in everything.ift] == ["oasst-p1", "oasst-p2", "oasst-p3"]


# --------------------------------------------------------------------------- bad input

GOOD_ROOT = {"message_id": "r", "parent_id": None, "role": "prompter", "text": "Hi", "lang": "en"}


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def with_(**changes) -> dict:
    row = dict(GOOD_ROOT, message_id="m2", parent_id="r", role="assistant", rank=0)
    row.update(changes)
    return {k: v for k, v in row.items() if v != "<drop>"}


@pytest.mark.parametrize(
    "bad, key",
    [
        (with_(message_id="<drop>"), "message_id"),
        (with_(message_id=""), "message_id"),
        (with_(parent_id="<drop>"), "parent_id"),
        (with_(parent_id=3), "parent_id"),
        (with_(role="user"), "role"),
        (with_(text="<drop>"), "text"),
        (with_(text=None), "text"),
        (with_(rank=-1), "rank"),
        (with_(rank=True), "rank"),
        (with_(rank="0"), "rank"),
        (with_(deleted="no"), "deleted"),
        (with_(lang=1), "lang"),
        (with_(review_result="yes"), "review_result"),
        (with_(message_id="r"), "message_id"),  # duplicate of the root's id
        ('{"message_id": "m2", ', "JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_messages_name_file_line_and_key(tmp_path, bad, key):
    path = write(tmp_path / "msgs.jsonl", [GOOD_ROOT, "", bad])
    with pytest.raises(UserError) as info:
        import_oasst(path)
    assert f"{path}:3:" in str(info.value) and key in str(info.value)


def tree(prompt) -> dict:
    return {"message_tree_id": "t", "prompt": prompt}


REPLY = {"message_id": "a", "role": "assistant", "text": "A"}


def root_with(*replies) -> dict:
    return dict(GOOD_ROOT, replies=list(replies))


@pytest.mark.parametrize(
    "bad, key",
    [
        (tree("just text"), "'prompt'"),
        (tree(dict(GOOD_ROOT, replies="none")), "'prompt.replies'"),
        (tree(root_with("x")), "'prompt.replies[0]'"),
        (tree(root_with(dict(REPLY, rank=1.5))), "'prompt.replies[0].rank'"),
        (
            tree(root_with(dict(REPLY, replies=[{"message_id": "b"}]))),
            "'prompt.replies[0].replies[0].role'",
        ),
    ],
)
def test_bad_trees_name_file_line_and_key_path(tmp_path, bad, key):
    path = write(tmp_path / "trees.jsonl", [tree(root_with()), bad])
    with pytest.raises(UserError) as info:
        import_oasst(path)
    assert f"{path}:2:" in str(info.value) and key in str(info.value)


def test_empty_or_unrecognised_files(tmp_path):
    with pytest.raises(UserError, match="no messages"):
        import_oasst(write(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(UserError, match=r":1: key 'message_id'"):
        import_oasst(write(tmp_path / "other.jsonl", [{"prompt": "P", "response": "R"}]))
    with pytest.raises(UserError, match="not found"):
        import_oasst(tmp_path / "missing.jsonl")
