"""Build synthetic meta-judge SFT rows from graded EFT rows (the output of ``build_eft``).

MR starts from Llama-3-8B-Instruct, which can already follow the meta-judge prompt; a small
model cannot, and then every verdict is unparsable and no judge pair is made (Wu et al.
2024, section 3.2). These rows teach the format the way EFT teaches the judge's: from answers
of *known* quality. Each row shows one graded response with two judgments *of that response*:

=========  ======================================================================  =========
judgment   text                                                                    its score
=========  ======================================================================  =========
correct    the response's own judgment (the one ``build_eft`` wrote for it)        its grade
wrong      the judgment written for another response of the same prompt whose      differs
           grade differs, so it scores this response too high or too low
=========  ======================================================================  =========

The target is a 1-2 sentence explanation (several wordings) of why the correct judgment is
more accurate, then ``Winner: Judgment A`` or ``Winner: Judgment B`` on its own last line: the
format the meta-judge template asks for and :func:`srlm.judging.parse.parse_verdict` reads.
The correct judgment is shown first in every other selected row, so no position is favoured.
Everything is deterministic for a seed: the selection is a seeded shuffle of the row ids, and
each row draws from its own ``random.Random`` keyed by seed and row id.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence

from srlm.judging.parse import parse_score
from srlm.judging.templates import fill

# What the response is, per degradation kind of ``build_eft``; slotted as "The response {why}".
_WHY: dict[str, str] = {
    "good": "answers the question directly and completely",
    "partial": "covers the basics and then trails off into generic filler",
    "vague": "stays loosely on topic but gives no concrete information",
    "truncated": "breaks off mid-sentence before the answer is complete",
    "off_topic": "answers a different question than the one asked",
}

# Explanations by direction of the wrong judgment's error. Slots: {right}/{wrong} the letters,
# {rs}/{ws} their scores ({rsp}/{wsp} with "point(s)"), {why} from _WHY. Several wordings, so
# the model does not learn one string; every one names both scores, so the verdict follows
# from the rubric, not from the position.
_EXPLAIN: dict[str, tuple[str, ...]] = {
    "too_high": (
        "Judgment {right} is more accurate. The response {why}, so {rsp} fit; Judgment "
        "{wrong} overrates it with {ws}.",
        "Judgment {wrong} awards {wsp}, more than the rubric allows for a response that "
        "{why}. Judgment {right}'s score of {rs} applies the criteria correctly.",
        "The response {why}. Judgment {right} scores that as the rubric says ({rs}), while "
        "Judgment {wrong} is too generous with {ws}.",
    ),
    "too_low": (
        "Judgment {right} is more accurate. The response {why}, which earns {rsp}; "
        "Judgment {wrong} underrates it with {ws}.",
        "Judgment {wrong} gives only {wsp}, too few for a response that {why}. Judgment "
        "{right}'s score of {rs} follows the rubric.",
        "The response {why}. Judgment {right} scores that correctly at {rs}, while Judgment "
        "{wrong} is too harsh with {ws}.",
    ),
}
# For EFT rows from a file, whose responses carry no degradation kind to describe.
_EXPLAIN_GENERIC: dict[str, tuple[str, ...]] = {
    "too_high": (
        "Judgment {right} applies the rubric more faithfully: the response earns {rsp}, "
        "and Judgment {wrong}'s {ws} credits criteria it does not meet.",
        "Judgment {wrong} is too generous with {wsp}; Judgment {right}'s {rs} matches "
        "what the response actually achieves.",
    ),
    "too_low": (
        "Judgment {right} applies the rubric more faithfully: the response earns {rsp}, "
        "and Judgment {wrong}'s {ws} misses criteria it does meet.",
        "Judgment {wrong} is too harsh with {wsp}; Judgment {right}'s {rs} matches what "
        "the response actually achieves.",
    ),
}


def build_meta(
    eft_rows: Sequence[dict], template_text: str, *, seed: int = 0, limit: int | None = None
) -> list[dict]:
    """Meta-judge SFT rows ``{"id", "prompt", "response", "verdict", ...}``, at most ``limit``.

    A candidate is a scored response whose judgment parses to its score, together with a judgment
    of another response of the same prompt that parses to a different score; responses without
    one (ranked rows, a prompt with a single grade) are skipped. ``prompt`` is ``template_text``
    (placeholders ``{prompt}``, ``{response}``, ``{judgment_a}``, ``{judgment_b}``) filled in one
    pass; ``verdict`` is the correct judgment's letter, also stated on the target's last line.
    Extra keys ``score``, ``wrong_score`` and ``response_kind`` say what the row teaches.
    """
    candidates = sorted(_candidates(eft_rows)[0], key=lambda c: c[0])
    # Shuffle ids, not input order, so the selection does not depend on how rows were listed;
    # a prompt-by-prompt prefix would show only the first few prompts.
    random.Random(f"{seed}:meta").shuffle(candidates)
    chosen = candidates if limit is None else candidates[:limit]
    # Alternating after the shuffle balances the positions exactly, for any limit.
    return [
        _row(row_id, row, resp, pool, correct_first=index % 2 == 0, seed=seed, template=template_text)
        for index, (row_id, row, resp, pool) in enumerate(chosen)
    ]


def unusable_responses(eft_rows: Iterable[dict]) -> dict[str, int]:
    """How many EFT responses could not become a meta-judge row, by reason (for stats.json)."""
    return dict(_candidates(eft_rows)[1])


def _candidates(eft_rows: Iterable[dict]) -> tuple[list[tuple[str, dict, dict, list[tuple[str, float]]]], Counter]:
    """``(row id, EFT row, response, wrong judgments with their scores)`` per usable response,
    and the count of the others by reason."""
    out, skipped = [], Counter()
    for row in eft_rows:
        judged = [(i, r, _judged_score(r)) for i, r in enumerate(row["responses"])]
        for i, resp, score in judged:
            if score is None:
                skipped["no_judgment_stating_its_grade"] += 1  # nothing is "correct"
                continue
            pool = [(r["judgment"], s) for j, r, s in judged if j != i and s is not None and s != score]
            if pool:
                out.append((f"meta-{row['id']}-{i}", row, resp, pool))
            else:
                skipped["no_judgment_of_another_grade"] += 1
    return out, skipped


def _judged_score(resp: dict) -> float | None:
    """The response's grade when its judgment parses to exactly that grade, else ``None``."""
    if "score" not in resp or "judgment" not in resp:
        return None
    parsed = parse_score(resp["judgment"])
    return parsed if parsed is not None and parsed == float(resp["score"]) else None


def _row(
    row_id: str, row: dict, resp: dict, pool: list[tuple[str, float]], *,
    correct_first: bool, seed: int, template: str,
) -> dict:
    """One SFT row: the filled meta-judge request and an explanation ending in the verdict."""
    rng = random.Random(f"{seed}:{row_id}")
    wrong_text, wrong_score = rng.choice(pool)
    score = float(resp["score"])
    right, wrong = ("A", "B") if correct_first else ("B", "A")
    texts = {right: resp["judgment"], wrong: wrong_text}
    prompt = fill(template, prompt=row["prompt"], response=resp["text"],
                  judgment_a=texts["A"], judgment_b=texts["B"])
    target = _explanation(resp.get("kind"), score, wrong_score, right, wrong, rng)
    return {
        "id": row_id, "prompt": prompt, "response": f"{target}\nWinner: Judgment {right}",
        "verdict": right, "score": score, "wrong_score": wrong_score,
        "response_kind": resp.get("kind"),
    }


def _explanation(
    kind: str | None, score: float, wrong_score: float, right: str, wrong: str, rng: random.Random
) -> str:
    """1-2 sentences saying why the judgment scoring ``score`` beats the one scoring ``wrong_score``."""
    direction = "too_high" if wrong_score > score else "too_low"
    wordings = _EXPLAIN if kind in _WHY else _EXPLAIN_GENERIC
    return fill(
        rng.choice(wordings[direction]),
        why=_WHY.get(kind or "", ""), right=right, wrong=wrong,
        rsp=_points(score), wsp=_points(wrong_score), rs=f"{score:g}", ws=f"{wrong_score:g}",
    )


def _points(score: float) -> str:
    """``score`` with its noun: "1 point", "3 points", "2.5 points"."""
    return f"{score:g} point" + ("" if score == 1 else "s")
