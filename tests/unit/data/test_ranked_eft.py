"""EFT from human rankings: order agreement, down-sampling, the whole build with a fake judge."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from srlm.config import load_config
from srlm.data.eft_builder import judge_sft_rows, split_heldout
from srlm.data.ranked_eft import build, downsample_top_score, human_quality, order_agrees, score_histogram
from srlm.evaluation.judges import EvalContext
from srlm.judging.templates import load_template
from tests.helpers.fakes import FakeBackend


def test_order_agreement() -> None:
    ranks = [0, 1, 2]
    quality = human_quality([{"rank": r} for r in ranks])
    assert order_agrees([5, 4, 1], quality)
    assert not order_agrees([4, 5, 1], quality)
    assert not order_agrees([4, 4, 1], quality)
    assert order_agrees([4, 4, 1], quality, allow_ties=True)
    assert not order_agrees([1, 4, 4], quality, allow_ties=True)
    # Human scores (higher = better) and human ties: the judge must tie there too.
    scored = human_quality([{"score": 4}, {"score": 4}, {"score": 1}])
    assert order_agrees([3, 3, 0], scored)
    assert not order_agrees([3, 2, 0], scored)
    assert not order_agrees([3, 2, 0], scored, allow_ties=True)


def _rows(score_lists: list[list[int]]) -> list[dict]:
    return [{"id": f"p{i}", "prompt": "q", "responses": [{"text": "t", "rank": k, "judge_score": s} for k, s in enumerate(scores)]}
            for i, scores in enumerate(score_lists)]


def test_downsampling_brings_the_top_score_to_the_second() -> None:
    rows = _rows([[4, 4, 3], [4, 2], [4], [5, 3]])
    kept, stats = downsample_top_score(rows, seed=1)
    assert stats["histogram_before"] == {"2": 1, "3": 2, "4": 4, "5": 1}
    assert (stats["score"], stats["from"], stats["to"], stats["dropped_judgments"]) == ("4", 4, 2, 2)
    assert score_histogram(kept) == {"2": 1, "3": 2, "4": 2, "5": 1}
    assert stats["emptied_prompts"] == len(rows) - len(kept)
    assert downsample_top_score(rows, seed=1)[0] == kept  # seeded


def test_downsampling_leaves_balanced_or_single_score_data_alone() -> None:
    for scores in ([[4, 3], [3, 4]], [[4, 4], [4]]):
        rows = _rows(scores)
        kept, stats = downsample_top_score(rows, seed=0)
        assert kept == rows and stats["dropped_judgments"] == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=4), min_size=1, max_size=12), st.integers(0, 99))
def test_downsampling_invariants(score_lists: list[list[int]], seed: int) -> None:
    rows = _rows(score_lists)
    kept, stats = downsample_top_score(rows, seed)
    before, after = Counter(stats["histogram_before"]), Counter(score_histogram(kept))
    ranked = before.most_common()
    if len(ranked) >= 2 and ranked[0][1] > ranked[1][1]:
        assert after[ranked[0][0]] == ranked[1][1]
    else:
        assert stats["dropped_judgments"] == 0
    assert sum(before.values()) - sum(after.values()) == stats["dropped_judgments"]
    for score, count in before.items():
        if score != stats["score"]:
            assert after[score] == count  # only the top score loses judgments
    assert all(row["responses"] for row in kept)


class RankJudge(FakeBackend):
    """Scores by a marker in the response text: "good" 5, "ok" 3, "bad" 1, "??" unparsable."""

    def generate(self, conversations, sampling):
        out = []
        for c in conversations:
            response = c[-1]["content"].split("<response>")[1].split("</response>")[0]
            word = response.split()[0]
            text = {"good": "Fine.\nScore: 5", "ok": "Partly.\nScore: 3", "bad": "Poor.\nScore: 1", "four": "Score: 4"}.get(word, "No idea.")
            out.append([text] * sampling.n)
        return out


def _ranked(texts: list[str], i: int) -> dict:
    return {"id": f"q{i}", "prompt": f"question {i}", "responses": [{"text": t, "rank": k} for k, t in enumerate(texts)]}


def test_build_keeps_agreeing_prompts_and_counts(tmp_path: Path) -> None:
    rows = [_ranked(["good a", "ok b", "bad c"], i) for i in range(6)]  # agree
    rows += [_ranked(["bad a", "good b"], 10), _ranked(["ok a", "ok b"], 11)]  # reversed; judge tie
    rows += [_ranked(["good a", "?? b"], 12), _ranked(["good a"], 13)]  # unparsed; single response
    judge = EvalContext(load_config(None, ["backend.batch_size=4"]), "fake", RankJudge)
    train, heldout, stats = build(rows, judge, tmp_path / "j.jsonl", heldout_fraction=0.0, seed=0)
    assert heldout == [] and stats["judged_prompts"] == len(rows) == stats["input_prompts"]
    assert stats["dropped_prompts"] == {"fewer_than_2_responses": 1, "order_disagrees": 2, "unparsed_judgment": 1}
    assert stats["kept_prompts"] == 6 == stats["train_prompts"]
    assert {r["id"] for r in train} == {f"q{i}" for i in range(6)}
    assert stats["downsampling"]["dropped_judgments"] == 0  # 5, 3, 1 equally common
    response = train[0]["responses"][0]
    assert response["judgment"].endswith("Score: 5") and response["judge_score"] == 5.0 and response["rank"] == 0
    sft = judge_sft_rows(train, load_template("additive_5pt"))
    assert len(sft) == stats["train_judgments"] == 18
    tied, _, tie_stats = build(rows, judge, tmp_path / "k.jsonl", 0.0, 0, allow_ties=True)
    assert tie_stats["dropped_prompts"]["order_disagrees"] == 1 and tie_stats["kept_prompts"] == 7
    balance = tie_stats["downsampling"]  # the tied prompt adds two 3s: 3 is now the most common
    assert (balance["score"], balance["from"], balance["to"]) == ("3", 8, 6)
    assert len(tied) == 7 - balance["emptied_prompts"]


def test_heldout_part_is_split_off_before_the_agreement_filter(tmp_path: Path) -> None:
    """The held-out judge set is chosen before any judging: the judge never sees it, and prompts
    whose order it gets wrong stay in it (SR's SFT baseline scores 65.1 % there, Table 4)."""
    rows = [_ranked(["good a", "ok b", "bad c"], i) for i in range(6)]
    rows += [_ranked(["bad a", "good b"], i) for i in range(10, 16)]  # the judge's order is reversed
    judge = EvalContext(load_config(None, ["backend.batch_size=4"]), "fake", RankJudge)
    train, heldout, stats = build(rows, judge, tmp_path / "j.jsonl", heldout_fraction=0.5, seed=0)
    assert [r["id"] for r in heldout] == [r["id"] for r in split_heldout(rows, 0.5, 0)[1]]  # the split of every row
    assert any(r["responses"][0]["text"].startswith("bad") for r in heldout)  # disagreeing prompts are not filtered out
    assert all("judgment" not in r for row in heldout for r in row["responses"])  # ... nor judged
    judged = {json.loads(line)["id"].rsplit("-r", 1)[0] for line in (tmp_path / "j.jsonl").read_text().splitlines()}
    assert judged.isdisjoint(r["id"] for r in heldout)  # the judge never read a held-out response
    assert not {r["id"] for r in train} & {r["id"] for r in heldout}
    assert stats["heldout_prompts"] == 6 and stats["judged_prompts"] == 6 and stats["heldout_filtered"] is False
    assert stats["dropped_prompts"].get("order_disagrees", 0) == sum(r["responses"][0]["text"].startswith("bad") for r in split_heldout(rows, 0.5, 0)[0])


def test_train_judgments_capped_and_a_shortfall_reported(tmp_path: Path) -> None:
    rows = [_ranked(["good a", "ok b", "bad c"], i) for i in range(4)]
    judge = EvalContext(load_config(None, ["backend.batch_size=4"]), "fake", RankJudge)
    train, _, stats = build(rows, judge, tmp_path / "j.jsonl", 0.0, 0, max_train=7)
    assert sum(len(r["responses"]) for r in train) == 7 == stats["cap"]["got"] and stats["cap"]["before"] == 12
    assert stats["warnings"] == []
    _, _, short = build(rows, judge, tmp_path / "j.jsonl", 0.0, 0, max_train=1630)
    assert short["train_judgments"] == 12 and short["warnings"] == ["train judgments: 12 of 1630 asked"]
