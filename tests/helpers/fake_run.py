"""A run directory written by hand, as the pipeline would leave it: for report tests (no model).

Two iterations (iter1, iter2), eval.json for M1..M3 (M2 and M3 with a head-to-head against M1),
stats.json with every section (iter2 also a Meta-Rewarding "meta" section, with its judge pairs),
and pairs.jsonl whose first pair's chosen response tries to inject HTML. Each model has its
train.json; M1 and M2 keep their training log (trainer_state.json), M3 does not. The texts shown
side by side: head-to-head answers (M3's first one also tries to inject HTML) and verdicts, and
each model's judgments of the held-out EFT responses (data/eft_heldout.jsonl).
"""

from __future__ import annotations

import json
from pathlib import Path

ANSWER_INJECTION = '</pre></div><script>document.body.setAttribute("data-pwned-answer","1")</script><b>M3 says</b>'
INJECTION = 'Sure! <script>alert(1)</script></div><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'1\')"> done'


def judge(pairwise: float, parse_rate: float, share_top: float) -> dict:
    return {
        "pairwise_accuracy": pairwise + 0.01, "pairwise_accuracy_strict": pairwise, "pairwise_accuracy_tie_half": pairwise + 0.01, "pairwise_accuracy_untied": pairwise + 0.02,
        "judge_tie_share": 0.02, "exact_match": 0.25, "five_best": 0.5, "spearman": 0.41,
        "kendall": 0.33, "parse_rate": parse_rate, "share_top_score": share_top,
        "mean_judge_score": 3.2, "n_responses": 40, "n_groups": 8,
        "ci95": {"pairwise_accuracy_strict": [round(pairwise - 0.1, 4), round(pairwise + 0.08, 4)], "spearman": [0.1, 0.7]},
    }


def win_rate(wins: int, ties: int, losses: int) -> dict:
    n = wins + ties + losses
    score = (wins + ties / 2) / n
    return {"n": n, "wins": wins, "ties": ties, "losses": losses, "win_rate": wins / n, "tie_rate": ties / n,
            "loss_rate": losses / n, "score": score, "win_rate_ci": [0.3, 0.6], "score_ci": [score - 0.1, score + 0.1]}


EVALS = {
    1: {"model": "M1", "judge": judge(0.7871, 0.95, 0.2)},
    2: {"model": "M2", "judge": judge(0.8042, 0.97, 0.35), "win_rate_vs_M1": win_rate(12, 5, 3) | {"judge": "M1"}},
    3: {"model": "M3", "judge": judge(0.8171, 1.0, 0.6), "win_rate_vs_M1": win_rate(15, 3, 2) | {"judge": "M1"}},
}

# final_loss is the last logged loss (training.common.final_loss), as in trainer_state(t) below.
TRAIN = {1: {"rows": 84, "steps": 4, "processes": 1, "final_loss": 3.4, "seconds": 177.3},
         2: {"pairs": 15, "steps": 4, "processes": 1, "final_loss": 0.4931, "seconds": 25.9, "trained_from": "M1"},
         3: {"pairs": 14, "steps": 4, "processes": 1, "final_loss": 0.6512, "seconds": 24.1, "trained_from": "M2"}}


def trainer_state(t: int) -> dict:
    """transformers' TrainerState as saved by Trainer: a log entry per logging step, then the summary."""
    history = [{"epoch": round(step / 4, 2), "step": step, "loss": round((3.6 if t == 1 else 0.6931) - 0.05 * step, 4),
                "learning_rate": 1e-4 / step, "grad_norm": 2.5} | ({"rewards/accuracies": 0.25 * step} if t > 1 else {})
               for step in range(1, 5)]
    history.append({"epoch": 1.0, "step": 4, "train_loss": round(sum(h["loss"] for h in history) / len(history), 4), "train_runtime": 12.5})
    return {"global_step": 4, "epoch": 1.0, "max_steps": 4, "log_history": history}


# Head-to-head answers to held-out IFT prompts (M1 is the reference) and the judge's verdicts.
ANSWER_IDS = ("ift-h-0001", "ift-h-0002", "ift-h-0003", "ift-h-0004")


def answer_rows(t: int) -> list[dict]:
    return [{"id": pid, "prompt": f"Held-out question {k}?", "answer": ANSWER_INJECTION if (t, k) == (3, 0) else f"M{t} answers question {k}."}
            for k, pid in enumerate(ANSWER_IDS)]


def verdict_rows(t: int) -> list[dict]:
    """Pairwise verdicts in both orders; M<t> wins prompt 0 twice, the others split (ties)."""
    rows = []
    for k, pid in enumerate(ANSWER_IDS):
        rows.append({"id": f"{pid}-ab", "prompt_id": pid, "b_first": False, "judgment": f"Response A is better for <{k}>. Winner: A", "verdict": "A", "winner": "A"})
        verdict = "B" if k == 0 else "A"  # M<t> shown second: "B" is M<t>
        rows.append({"id": f"{pid}-ba", "prompt_id": pid, "b_first": True, "judgment": f"I prefer response {verdict}.", "verdict": verdict, "winner": "A" if verdict == "B" else "B"})
    return rows


# Held-out EFT prompts with graded responses, and each model's judgments of them.
HELDOUT = [{"id": f"eft-h-{k:04d}", "prompt": f"EFT question {k}?",
            "responses": [{"text": f"A fine answer {k}.", "score": 4, "judgment": "Good.\nScore: 4", "kind": "good"},
                          {"text": f"A poor answer {k}.", "score": 1, "judgment": "Vague.\nScore: 1", "kind": "vague"}]} for k in range(3)]


def eval_judgment_rows(t: int) -> list[dict]:
    return [{"id": f"{row['id']}-r{r}", "prompt_id": row["id"], "judgments": [f"M{t} thinks response {r} is worth {4 - r - t % 2}.\nScore: {4 - r - t % 2}"],
             "scores": [float(4 - r - t % 2)], "mean_score": 4.0 - r - t % 2} for row in HELDOUT for r in range(2)]


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
        write(root / f"M{t}" / "train.json", json.dumps(TRAIN[t]))
        write(root / f"M{t}" / "win_rate_answers.jsonl", _jsonl(answer_rows(t)))
        write(root / f"M{t}" / "eval_judgments.jsonl", _jsonl(eval_judgment_rows(t)))
        if t > 1:
            write(root / f"M{t}" / "win_rate_judgments.jsonl", _jsonl(verdict_rows(t)))
        if t < 3:
            write(root / f"M{t}" / "trainer_state.json", json.dumps(trainer_state(t)))
    write(root / "data" / "eft_heldout.jsonl", _jsonl(HELDOUT))
    for t in (1, 2):
        write(root / f"iter{t}" / "stats.json", json.dumps(stats(t)))
        write(root / f"iter{t}" / "pairs.jsonl", _jsonl(pair_rows(t)))
    write(root / "iter2" / "judge_pairs.jsonl", _jsonl(JUDGE_PAIRS))
    return root


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)
