"""The per-iteration evidence table of a run, read from its files (nothing is recomputed).

For each model M(t) of ``RUN_DIR``: its judge metrics on the held-out EFT data with 95 %
bootstrap intervals (``M<t>/eval.json`` → ``judge``), its head-to-head against M1
(``win_rate_vs_M1``: wins / ties / losses and the score (wins + ties/2) / n with its interval,
judged by the run's ``eval.win_rate_judge``), and from the iteration it starts
(``iter<t>/stats.json``): the mean length of the candidates it sampled and the share of its own
judgments that gave 5 (saturation, Wu et al. 2024, section 5). A judge-free check of instruction
following sits beside them: ROUGE-L F1 of M(t)'s greedy answers to the held-out IFT prompts
(``M<t>/win_rate_answers.jsonl``, written by the head-to-head) against the seed's reference
answers (``data/ift_heldout.jsonl``), with a bootstrap interval over prompts.

    .venv/bin/python experiments/evidence.py runs/tiny_evidence > experiments/results/evidence.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--with-m0", action="store_true", help="also answer the held-out prompts with M0 (the model before SFT; greedy, the head-to-head's decoding) into <run>/M0/win_rate_answers.jsonl and add its row: is ordinary instruction following intact after SFT?")
    args = p.parse_args()
    if args.with_m0:
        answer_with_m0(args.run_dir)
    print(table(args.run_dir))


def answer_with_m0(run_dir: Path) -> None:
    """M0's greedy answers to the win-rate prompts, made the way the head-to-head makes M(t)'s."""
    from srlm.evaluation.compare import answer_sampling, generate_answers
    from srlm.evaluation.judges import ModelRef, model_context, run_config
    from srlm.runtime.models import resolve_model
    from srlm.runtime.rundir import read_rows

    config = run_config(run_dir)
    prompts = [{"id": r["id"], "prompt": r["prompt"]} for r in read_rows(run_dir / "data" / "ift_heldout.jsonl")[: config.eval.win_rate_prompts]]
    (run_dir / "M0").mkdir(exist_ok=True)
    m0 = model_context(ModelRef("M0", Path(resolve_model(config.model)), config.model), config)
    generate_answers(m0, prompts, answer_sampling(config), run_dir / "M0" / "win_rate_answers.jsonl", "M0 answers")
    m0.release()


def read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def models(run_dir: Path) -> list[int]:
    """M(t) with an eval.json, and M0 when its answers were made (``--with-m0``)."""
    found = [int(d.name[1:]) for d in run_dir.glob("M*") if d.name[1:].isdigit() and ((d / "eval.json").exists() or (d / "win_rate_answers.jsonl").exists())]
    return sorted(found)


def table(run_dir: Path) -> str:
    lines = [
        f"Run `{run_dir}`; every number below is read from its `M<t>/eval.json` and `iter<t>/stats.json`.",
        "",
        "| model | judge pairwise acc. [95 % CI] | judge Spearman [95 % CI] | judge parse rate | vs M1: wins / ties / losses | vs M1: score [95 % CI] | answers: ROUGE-L vs reference [95 % CI] | answers: mean words | its candidates: mean tokens | its self-judgments: share of 5 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in models(run_dir):
        evaluation = read(run_dir / f"M{t}" / "eval.json")
        stats = read(run_dir / f"iter{t}" / "stats.json")
        lines.append("| " + " | ".join([f"M{t}", *judge_cells(evaluation.get("judge", {})), *win_cells(t, evaluation.get("win_rate_vs_M1")), *answer_cells(run_dir, t), *iteration_cells(stats)]) + " |")
    return "\n".join(lines)


def judge_cells(judge: dict) -> list[str]:
    ci = judge.get("ci95", {})
    return [with_interval(judge.get("pairwise_accuracy"), ci.get("pairwise_accuracy")), with_interval(judge.get("spearman"), ci.get("spearman")), number(judge.get("parse_rate"))]


def win_cells(t: int, outcome: dict | None) -> list[str]:
    if t == 0:
        return ["(before SFT)", ""]
    if t == 1:
        return ["(M1 itself)", ""]
    if not outcome or "wins" not in outcome:
        return ["not measured", ""]
    return [f"{outcome['wins']} / {outcome['ties']} / {outcome['losses']}", with_interval(outcome.get("score"), outcome.get("score_ci"))]


def answer_cells(run_dir: Path, t: int) -> list[str]:
    """ROUGE-L of M(t)'s held-out answers against the reference answers, and their length."""
    import numpy as np

    from srlm.runtime.rundir import read_rows
    from srlm.stages.prompt_filters import rouge_l, words

    answers_file, references_file = run_dir / f"M{t}" / "win_rate_answers.jsonl", run_dir / "data" / "ift_heldout.jsonl"
    if not answers_file.exists() or not references_file.exists():
        return ["not measured", ""]
    references = {row["id"]: row["response"] for row in read_rows(references_file)}
    answers = [row for row in read_rows(answers_file) if row["id"] in references]
    scores = np.array([rouge_l(words(row["answer"]), words(references[row["id"]])) for row in answers])
    draws = np.random.default_rng(0).choice(scores, (2000, len(scores))).mean(axis=1)
    interval = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]
    return [with_interval(float(scores.mean()), interval), number(float(np.mean([len(words(row["answer"])) for row in answers])), 1)]


def iteration_cells(stats: dict) -> list[str]:
    if not stats:
        return ["(no iteration)", ""]
    histogram = stats.get("judgments", {}).get("histogram", {})
    parsed = sum(histogram.values())
    return [number(stats.get("candidates", {}).get("mean_length_tokens"), 1), number(histogram.get("5", 0) / parsed if parsed else None)]


def number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def with_interval(value: float | None, interval: list | None) -> str:
    return number(value) + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


if __name__ == "__main__":
    main()
