"""Judge-training (EFT) data from human rankings: the paper's recipe (Yuan et al. 2024, 3.1).

Given prompts with several human-ranked responses (e.g. the EFT-train part that
``srlm import-oasst`` wrote, already split by tree from the held-out part):

1. a held-out part, when asked for, is split off first, by prompt, seeded: it is never
   judged, filtered or down-sampled here, so it cannot be pre-selected by the judge it will
   measure (SR's SFT baseline scores 65.1 % pairwise on its evaluation set, Table 4: that set
   was not filtered for agreement);
2. the model (the SFT baseline in the paper) writes one judgment per train response with the
   additive 5-point prompt;
3. a train prompt is kept only when every judgment parsed and the judge's score order agrees
   with the human ranking (strictly by default: the judge must separate what people separated,
   and tie only where they tie; ``allow_ties`` accepts judge ties on human-ordered pairs);
4. the most common score is down-sampled to the count of the second most common (the paper's
   judge mostly said 4), so the judge does not learn one answer;
5. at most ``max_train`` judgments are kept (SR: 1,630), whole prompts in a seeded order and
   the last one cut; fewer than asked is reported in ``warnings``.

Every drop is counted in the stats.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Sequence

from srlm.data.eft_builder import split_heldout
from srlm.judging.judge import JudgeContext, judge_items, response_items
from srlm.runtime.rundir import RowLog


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def human_quality(responses: Sequence[dict]) -> list[float]:
    """Higher = better: ``-rank`` (0 = best, Open Assistant) or the human ``score``."""
    return [-float(r["rank"]) if "rank" in r else float(r["score"]) for r in responses]


def order_agrees(judge: Sequence[float], quality: Sequence[float], allow_ties: bool = False) -> bool:
    """Whether the judge's scores order every pair of responses as people did.

    >>> order_agrees([5, 3, 1], [0, -1, -2])
    True
    >>> order_agrees([4, 4, 1], [0, -1, -2]), order_agrees([4, 4, 1], [0, -1, -2], allow_ties=True)
    (False, True)
    >>> order_agrees([2, 4], [0, -1], allow_ties=True)
    False
    """
    for i, j in itertools.combinations(range(len(judge)), 2):
        human, model = _sign(quality[i] - quality[j]), _sign(judge[i] - judge[j])
        if model == human:
            continue
        if not (allow_ties and model == 0):
            return False
    return True


def score_histogram(rows: Sequence[dict]) -> dict[str, int]:
    """How many judgments gave each score (scores as strings, for JSON)."""
    counts = Counter(_score_key(r["judge_score"]) for row in rows for r in row["responses"])
    return dict(sorted(counts.items()))


def _score_key(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else str(score)


def downsample_top_score(rows: list[dict], seed: int) -> tuple[list[dict], dict]:
    """Drop randomly chosen judgments of the most common score until it is no more common than
    the second most common; prompts left without a response are dropped.

    >>> rows = [{"id": str(i), "responses": [{"judge_score": s} for s in scores]}
    ...         for i, scores in enumerate([[4, 4], [4, 2], [4, 3], [2]])]
    >>> kept, stats = downsample_top_score(rows, seed=0)
    >>> score_histogram(kept), stats["dropped_judgments"]
    ({'2': 2, '3': 1, '4': 2}, 2)
    """
    histogram = Counter(_score_key(r["judge_score"]) for row in rows for r in row["responses"])
    ranked = histogram.most_common()
    stats = {"histogram_before": dict(sorted(histogram.items())), "score": None, "from": 0, "to": 0, "dropped_judgments": 0, "emptied_prompts": 0}
    if len(ranked) < 2 or ranked[0][1] == ranked[1][1]:
        return rows, stats  # no second score to balance against, or already balanced
    top, count = ranked[0]
    target = ranked[1][1]
    where = [(i, k) for i, row in enumerate(rows) for k, r in enumerate(row["responses"]) if _score_key(r["judge_score"]) == top]
    drop = set(random.Random(seed).sample(where, count - target))
    kept = []
    for i, row in enumerate(rows):
        responses = [r for k, r in enumerate(row["responses"]) if (i, k) not in drop]
        if responses:
            kept.append({**row, "responses": responses})
    stats |= {"score": top, "from": count, "to": target, "dropped_judgments": len(drop), "emptied_prompts": len(rows) - len(kept)}
    return kept, stats


def judge_responses(judge: JudgeContext, rows: list[dict], log_path: Path, temperature: float) -> dict[str, dict]:
    """One judgment per response (resumable), by item id ``<row id>-r<k>``."""
    items = response_items(rows)
    log = RowLog(log_path)
    judge_items(judge, items, log, 1, temperature, "EFT judgments")
    log.finish(order=[i["id"] for i in items])
    return {row["id"]: row for row in log.rows}


def filter_agreeing(rows: list[dict], judged: dict[str, dict], allow_ties: bool = False) -> tuple[list[dict], Counter]:
    """Rows whose judgments all parsed and agree with the human order, each response carrying
    its ``judgment`` and ``judge_score``; drops counted by reason."""
    kept: list[dict] = []
    dropped: Counter[str] = Counter()
    for row in rows:
        responses = row["responses"]
        found = [judged[f"{row['id']}-r{k}"] for k in range(len(responses))]
        scores = [f["scores"][0] for f in found]
        if len(responses) < 2:
            dropped["fewer_than_2_responses"] += 1
        elif any(s is None for s in scores):
            dropped["unparsed_judgment"] += 1
        elif not order_agrees(scores, human_quality(responses), allow_ties):
            dropped["order_disagrees"] += 1
        else:
            with_judgment = [{**r, "judgment": f["judgments"][0], "judge_score": s} for r, f, s in zip(responses, found, scores)]
            kept.append({**row, "responses": with_judgment})
    return kept, dropped


def build(rows: list[dict], judge: JudgeContext, log_path: Path, heldout_fraction: float, seed: int,
          temperature: float = 0.0, allow_ties: bool = False, max_train: int = 0) -> tuple[list[dict], list[dict], dict]:
    """(train, held-out, stats) from ranked rows, following the module's five steps."""
    pool, heldout = split_heldout(rows, heldout_fraction, seed)
    judged = judge_responses(judge, pool, log_path, temperature)
    kept, dropped = filter_agreeing(pool, judged, allow_ties)
    balanced, balance = downsample_top_score(kept, seed)
    train = cap_judgments(balanced, max_train, seed)
    got = sum(len(r["responses"]) for r in train)
    stats = {
        "input_prompts": len(rows),
        "input_responses": sum(len(r["responses"]) for r in rows),
        "heldout_prompts": len(heldout),
        "heldout_responses": sum(len(r["responses"]) for r in heldout),
        "heldout_filtered": False,  # split off before any judging: never filtered for agreement
        "judged_prompts": len(pool),
        "dropped_prompts": dict(sorted(dropped.items())),
        "kept_prompts": len(kept),
        "agreement_rate": round(len(kept) / max(1, len(pool) - dropped["fewer_than_2_responses"]), 4),
        "score_histogram_kept": score_histogram(kept),
        "downsampling": balance,
        "cap": {"asked": max_train, "before": sum(len(r["responses"]) for r in balanced), "got": got},
        "train_prompts": len(train),
        "train_judgments": got,
        "score_histogram_train": score_histogram(train),
        "warnings": [f"train judgments: {got} of {max_train} asked"] if got < max_train else [],
        "allow_judge_ties": allow_ties,
        "judge_temperature": temperature,
        "heldout_fraction": heldout_fraction,
        "seed": seed,
    }
    return train, heldout, stats


def cap_judgments(rows: list[dict], limit: int, seed: int) -> list[dict]:
    """At most ``limit`` judgments (0 = all): whole prompts in a seeded order, the last one cut.

    >>> rows = [{"id": str(i), "responses": [{"judge_score": 4}] * 3} for i in range(3)]
    >>> [len(r["responses"]) for r in cap_judgments(rows, 7, seed=0)], len(cap_judgments(rows, 0, 0))
    ([3, 1, 3], 3)
    """
    if not limit or sum(len(r["responses"]) for r in rows) <= limit:
        return rows
    order = sorted(range(len(rows)), key=lambda i: rows[i]["id"])
    random.Random(seed).shuffle(order)
    keep: dict[int, int] = {}
    left = limit
    for i in order:
        if left <= 0:
            break
        keep[i] = min(left, len(rows[i]["responses"]))
        left -= keep[i]
    return [{**row, "responses": row["responses"][: keep[i]]} for i, row in enumerate(rows) if i in keep]
