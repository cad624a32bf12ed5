"""A run directory written by hand, as the pipeline would leave it: for report tests (no model).

Two iterations (iter1, iter2), eval.json for M1..M3 (M2 and M3 with a head-to-head against M1),
stats.json with every section (iter2 also a Meta-Rewarding "meta" section, with its judge pairs),
and pairs.jsonl whose first pair's chosen response tries to inject HTML.
"""

from __future__ import annotations

import json
from pathlib import Path

INJECTION = 'Sure! <script>alert(1)</script></div><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'1\')"> done'


def judge(pairwise: float, parse_rate: float, share_top: float) -> dict:
    return {
        "pairwise_accuracy": pairwise, "exact_match": 0.25, "five_best": 0.5, "spearman": 0.41,
        "kendall": 0.33, "parse_rate": parse_rate, "share_top_score": share_top,
        "mean_judge_score": 3.2, "n_responses": 40,
    }


def win_rate(wins: int, ties: int, losses: int) -> dict:
    n = wins + ties + losses
    score = (wins + ties / 2) / n
    return {"n": n, "wins": wins, "ties": ties, "losses": losses, "win_rate": wins / n, "tie_rate": ties / n,
            "loss_rate": losses / n, "score": score, "win_rate_ci": [0.3, 0.6], "score_ci": [score - 0.1, score + 0.1]}


EVALS = {
    1: {"model": "M1", "judge": judge(0.7871, 0.95, 0.2)},
    2: {"model": "M2", "judge": judge(0.8042, 0.97, 0.35), "win_rate_vs_M1": win_rate(12, 5, 3)},
    3: {"model": "M3", "judge": judge(0.8171, 1.0, 0.6), "win_rate_vs_M1": win_rate(15, 3, 2)},
}


def stats(t: int) -> dict:
    """stats.json of iteration t, as the stages write it; lengths and 5s grow with t."""
    data = {
        "prompts": {"generated": 30 + t, "kept": 20, "dropped": {"too_short": 4, "near_duplicate_of_seed": 6 + t}, "rounds": 2},
        "candidates": {"prompts": 20, "candidates": 80, "empty_responses": 0, "mean_length_tokens": 100.5 * t, "mean_length_chars": 400.0 * t},
        "judgments": {"candidates": 80, "judgments": 240, "parsed": 230 - t, "unparsed": 10 + t, "parse_rate": round((230 - t) / 240, 4),
                      "candidates_without_score": t, "mean_score": 3.5 + 0.5 * t,
                      "histogram": {"0": 1, "1": 5, "2": 20, "3": 50, "4": 90 - 40 * t, "5": 64 + 39 * t}},
        "pairs": {"prompts": 20, "kept": 17 - t, "dropped": {"tie": 2 + t, "fewer_than_two_valid": 1}, "length_rho": 0.0,
                  "mean_chosen_score": 4.75, "mean_rejected_score": 2.5, "mean_chosen_length": 120.0 * t, "mean_rejected_length": 80.0 * t},
    }
    if t == 2:
        data["meta"] = {"prompts": 20, "judge_pairs": 12, "dropped": {"chosen_too_long": 5, "no_disagreement": 3}, "no_disagreement": 3,
                        "comparisons": 200, "verdicts_parsed": 180, "verdicts_unparsed": 20, "first_position_wins": 120,
                        "second_position_wins": 60, "higher_score_win_rate": 0.85, "w1": 0.3333, "w2": 0.6667,
                        "judge_pairs_trained_on": True}
    return data


def pair_rows(t: int) -> list[dict]:
    rows = [{"prompt_id": f"it{t}-p{k:04d}", "prompt": f"Question {k} of iteration {t}?",
             "chosen": INJECTION if k == 0 else f"A good answer {k}.", "rejected": f"A bad answer {k}.",
             "chosen_score": 4.5, "rejected_score": 2.0, "chosen_length": 12, "rejected_length": 5, "kind": "actor"}
            for k in range(5)]
    return rows


# Meta-Rewarding's judge pairs (iter2 only): the texts are judgments, ranked by meta-judge Elo.
JUDGE_PAIRS = [{"prompt_id": "it2-p0001", "prompt": "Review the response: <b>bold</b>", "chosen": "Fair answer </pre> Score: 4",
                "rejected": "Score: 5", "chosen_elo": 0.8, "rejected_elo": -0.6, "chosen_length": 9, "rejected_length": 3, "kind": "judge"}]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_fake_run(root: Path, method: str = "meta_rewarding") -> Path:
    """Write the whole fake run under ``root`` and return it."""
    write(root / "config.yaml", f"name: fake\nmethod: {method}\niterations: 2\npairs:\n  length_unit: tokens\n")
    for t, data in EVALS.items():
        write(root / f"M{t}" / "eval.json", json.dumps(data))
        (root / f"M{t}" / "model").mkdir(parents=True, exist_ok=True)
        write(root / f"M{t}" / "COMPLETE", "ok\n")
    for t in (1, 2):
        write(root / f"iter{t}" / "stats.json", json.dumps(stats(t)))
        write(root / f"iter{t}" / "pairs.jsonl", "".join(json.dumps(r) + "\n" for r in pair_rows(t)))
    write(root / "iter2" / "judge_pairs.jsonl", "".join(json.dumps(r) + "\n" for r in JUDGE_PAIRS))
    return root
