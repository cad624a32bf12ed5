"""Judged candidates for the meta-judge tests: two prompts, one with judge disagreement."""

from __future__ import annotations


def score_of(judgment: str) -> float:
    return float(judgment.rsplit("Score:", 1)[1])


def judged_prompts() -> tuple[list[dict], list[dict]]:
    """Two prompts with 2 candidates each: p0 has disagreement on c1, p1 has none anywhere."""
    candidates = [{"id": f"p{p}-c{c}", "prompt_id": f"p{p}", "prompt": f"Question {p}?", "response": f"Answer {p}{c}."} for p in range(2) for c in range(2)]
    texts = {
        "p0-c0": ["Fine. Score: 4", "Fine. Score: 4", "Fine. Score: 4"],
        "p0-c1": ["Short. Score: 2", "no score here", "A much longer and more generous judgment. Score: 5", "Middling. Score: 3"],
        "p1-c0": ["Ok. Score: 3", "Ok. Score: 3"],
        "p1-c1": ["Ok. Score: 1", "unparsable"],
    }
    judgments = []
    for cid, ts in texts.items():
        scores = [score_of(t) if "Score:" in t else None for t in ts]
        judgments.append({"id": cid, "prompt_id": cid[:2], "judgments": ts, "scores": scores})
    return candidates, judgments
