"""Per-iteration measurements of a positive-control or self-rewarding run, read from its files.

For each model M(t) of ``RUN_DIR`` (its greedy answers to the held-out prompts,
``M<t>/win_rate_answers.jsonl``, written by the pipeline's head-to-head):

- similarity to the reference answers (``data/ift_heldout.jsonl``): ROUGE-L F1 by the shipped
  reference reward (``srlm.judging.reference.rouge_l``), its mean with a bootstrap 95 %
  interval over prompts, and its change from M1 with a *paired* bootstrap interval;
- the win rate against M1 by the reference reward (``M<t>/eval.json`` → ``win_rate_vs_M1`` when
  the run's ``eval.win_rate_judge`` is the reference function) and, with ``--m1-judge``, by the
  frozen M1 scoring each answer alone with the judge prompt (expected digit; resumable in
  ``M<t>/m1_judge_vs_M1.jsonl``);
- the answers' mean length in words and how many equal M1's;
- from the iteration that trained it (``iter<t-1>``): pairs, their chosen/rejected reference
  reward and words, and, for a run whose judge is not the reference reward, how often the
  judge's chosen answer also has the higher reference reward (its agreement with the oracle);
- M(t)'s judge metrics on held-out EFT data (``M<t>/eval.json`` → ``judge``).

    python experiments/control.py runs/tiny_control [--m1-judge] [--keep experiments/results/tiny_control]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

DRAWS = 2000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--m1-judge", action="store_true", help="also judge every M(t) vs M1 with the frozen M1 (additive, expected digit)")
    p.add_argument("--json", type=Path, help="write the measurements here as JSON")
    p.add_argument("--keep", type=Path, help="copy the files the table is read from (no checkpoints) into this folder, and read them from there")
    args = p.parse_args()
    if args.m1_judge:
        for t in models(args.run_dir)[1:]:
            m1_judge_win_rate(args.run_dir, t)
    run_dir = keep(args.run_dir, args.keep) if args.keep else args.run_dir
    found = summarize(run_dir)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    print(table(found))


KEPT = ("config.yaml", "data/ift.jsonl", "data/ift_heldout.jsonl", "M*/eval.json", "M*/win_rate_answers.jsonl", "M*/m1_judge_vs_M1.json", "M*/train.json", "iter*/stats.json", "iter*/pairs.jsonl")


def keep(run_dir: Path, dest: Path) -> Path:
    """Copy what ``summarize`` reads (a few hundred kB, no model weights) from a run to ``dest``."""
    import shutil

    for pattern in KEPT:
        for source in run_dir.glob(pattern):
            target = dest / source.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return dest


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def models(run_dir: Path) -> list[int]:
    """The t of every M(t) with held-out answers, in order."""
    return sorted(int(d.name[1:]) for d in run_dir.glob("M*") if d.name[1:].isdigit() and (d / "win_rate_answers.jsonl").exists())


def mean_ci(values: np.ndarray, seed: int = 0) -> list[float]:
    """The mean and its bootstrap 95 % interval over prompts (``DRAWS`` resamples)."""
    draws = np.random.default_rng(seed).choice(values, (DRAWS, len(values))).mean(axis=1)
    return [float(values.mean()), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]


def answers_of(run_dir: Path, t: int) -> dict[str, str]:
    return {row["id"]: row["answer"] for row in read_rows(run_dir / f"M{t}" / "win_rate_answers.jsonl")}


def summarize(run_dir: Path) -> dict:
    """Every measurement of every model, as plain data (what the tables and tests read)."""
    from srlm.judging.reference import rouge_l

    references = {row["id"]: row["response"] for row in read_rows(run_dir / "data" / "ift_heldout.jsonl")}
    m1 = answers_of(run_dir, 1)
    ids = sorted(i for i in m1 if i in references)
    base = np.array([rouge_l(m1[i], references[i]) for i in ids])
    base_words = np.array([len(m1[i].split()) for i in ids])
    rows = []
    for t in models(run_dir):
        mine = answers_of(run_dir, t)
        if not all(i in mine for i in ids):
            continue
        rouge = np.array([rouge_l(mine[i], references[i]) for i in ids])
        words = np.array([len(mine[i].split()) for i in ids])
        evaluation = read_json(run_dir / f"M{t}" / "eval.json")
        rows.append({
            "model": f"M{t}", "prompts": len(ids), "rouge_l": mean_ci(rouge), "rouge_l_change": mean_ci(rouge - base),
            "words": mean_ci(words.astype(float)), "words_change": mean_ci((words - base_words).astype(float)),
            "unchanged_vs_M1": int(sum(mine[i] == m1[i] for i in ids)),
            "reference_win_rate": _outcome(evaluation.get("win_rate_vs_M1")) if t > 1 else None,
            "m1_judge_win_rate": _outcome(read_json(run_dir / f"M{t}" / "m1_judge_vs_M1.json")) if t > 1 else None,
            "judge": _judge(evaluation.get("judge")),
            "trained_on": iteration_pairs(run_dir, t - 1) if t > 1 else None,
        })
    spreads = {f"iter{t}": candidate_spread(run_dir, t) for t in range(1, 1 + len(list(run_dir.glob("iter*"))))}
    return {"run": str(run_dir), "models": rows, "candidate_spread": {k: v for k, v in spreads.items() if v}}


def _outcome(found: dict | None) -> dict | None:
    if not found or "wins" not in found:
        return None
    return {k: found[k] for k in ("wins", "ties", "losses", "score", "score_ci") if k in found}


def _judge(found: dict | None) -> dict | None:
    if not found:
        return None
    return {"pairwise_accuracy": found.get("pairwise_accuracy"), "pairwise_ci": found.get("ci95", {}).get("pairwise_accuracy"), "spearman": found.get("spearman"), "parse_rate": found.get("parse_rate")}


def iteration_pairs(run_dir: Path, t: int) -> dict | None:
    """The DPO pairs of iteration t: counts, reference reward and words of chosen vs rejected,
    and the share where the judge's choice also wins by the reference reward."""
    from srlm.judging.reference import rouge_l

    pairs = read_rows(run_dir / f"iter{t}" / "pairs.jsonl")
    if not pairs:
        return None
    references = {row["prompt"]: row["response"] for row in read_rows(run_dir / "data" / "ift.jsonl")}
    usable = [p for p in pairs if p["prompt"] in references]
    chosen = np.array([rouge_l(p["chosen"], references[p["prompt"]]) for p in usable])
    rejected = np.array([rouge_l(p["rejected"], references[p["prompt"]]) for p in usable])
    stats = read_json(run_dir / f"iter{t}" / "stats.json")
    return {
        "pairs": len(pairs), "with_reference": len(usable), "dropped": stats.get("pairs", {}).get("dropped", {}),
        "chosen_rouge_l": float(chosen.mean()) if usable else None, "rejected_rouge_l": float(rejected.mean()) if usable else None,
        # Ties by the reference count half, as pairwise accuracy counts judge ties.
        "agreement_with_reference": float(np.mean((chosen > rejected) + 0.5 * (chosen == rejected))) if usable else None,
        "chosen_words": float(np.mean([len(p["chosen"].split()) for p in pairs])), "rejected_words": float(np.mean([len(p["rejected"].split()) for p in pairs])),
        "optimizer_steps": stats.get("train", {}).get("optimizer_steps") or stats.get("train", {}).get("steps"),
    }


def candidate_spread(run_dir: Path, t: int, margin: float = 0.05) -> dict | None:
    """How far apart the reference reward puts each prompt's candidates in iteration t (read
    from ``candidates.jsonl``, or its ``.partial`` while sampling runs): best minus worst ROUGE-L,
    the share of prompts whose spread reaches ``margin`` (a 0.25 margin on the 0-5 scale), and
    the words of the best and worst candidate. Complete prompts only."""
    from collections import defaultdict

    from srlm.judging.reference import rouge_l

    folder = run_dir / f"iter{t}"
    rows = read_rows(folder / "candidates.jsonl") or read_rows(folder / "candidates.jsonl.partial")
    if not rows:
        return None
    references = {row["prompt"]: row["response"] for row in read_rows(run_dir / "data" / "ift.jsonl")}
    n = read_json_yaml_n(run_dir)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["prompt_id"]].append(row)
    complete = [g for g in groups.values() if len(g) == n and g[0]["prompt"] in references]
    if not complete:
        return None
    spread, best_words, worst_words = [], [], []
    for group in complete:
        scored = sorted(((rouge_l(c["response"], references[c["prompt"]]), len(c["response"].split())) for c in group))
        spread.append(scored[-1][0] - scored[0][0])
        best_words.append(scored[-1][1])
        worst_words.append(scored[0][1])
    return {"prompts": len(complete), "candidates_per_prompt": n, "best_minus_worst_rouge_l": mean_ci(np.array(spread)),
            f"share_with_spread_at_least_{margin}": float(np.mean(np.array(spread) >= margin)),
            "best_words": float(np.mean(best_words)), "worst_words": float(np.mean(worst_words))}


def read_json_yaml_n(run_dir: Path) -> int:
    """``candidates.n`` of the run's frozen config."""
    import yaml

    return int((yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("candidates", {}).get("n", 4))


def m1_judge_win_rate(run_dir: Path, t: int) -> dict:
    """M(t) vs M1 judged by the frozen M1, each answer scored alone (additive, expected digit)."""
    import dataclasses

    from srlm.evaluation.judges import ModelRef, model_context, run_config
    from srlm.evaluation.metrics import head_to_head
    from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts
    from srlm.runtime.rundir import RunDir

    out = run_dir / f"M{t}" / "m1_judge_vs_M1.json"
    if out.exists():
        return read_json(out)
    config = run_config(run_dir)
    # The M1 judge scores by its digit probabilities (fewer ties than written digits; README).
    config = dataclasses.replace(config, judge=dataclasses.replace(config.judge, kind="self", spec="", scoring="expected", samples=1))
    run = RunDir(run_dir)
    judge = model_context(ModelRef("M1", run.model(1), "M1"), config)
    mine, theirs = answers_of(run_dir, t), answers_of(run_dir, 1)
    heldout = read_rows(run_dir / "data" / "ift_heldout.jsonl")[: config.eval.win_rate_prompts]
    items = [{"id": r["id"], "prompt": r["prompt"], "answer_a": mine[r["id"]], "answer_b": theirs[r["id"]]} for r in heldout]
    ab, ba, _ = head_to_head_verdicts(judge, items, JudgeSettings.from_config(config, "additive"), run_dir / f"M{t}" / "m1_judge_vs_M1.jsonl", f"M{t} vs M1 by M1")
    judge.release()
    result = head_to_head(ab, ba, seed=config.seed) | {"judge": "M1 (additive, expected digit)"}
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ci(triple: list[float] | None, digits: int = 3, sign: bool = False) -> str:
    if not triple:
        return "n/a"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{f.format(triple[0])} [{f.format(triple[1])}, {f.format(triple[2])}]"


def outcome_cell(found: dict | None) -> str:
    if not found:
        return "—"
    interval = found.get("score_ci") or [None, None]
    return f"{found['wins']}/{found['ties']}/{found['losses']}: {fmt(found['score'], 2)} [{fmt(interval[0], 2)}, {fmt(interval[1], 2)}]"


def table(found: dict) -> str:
    lines = [
        f"Run `{found['run']}`, {found['models'][0]['prompts'] if found['models'] else 0} held-out prompts; every number is read from the run's files (experiments/control.py).",
        "",
        "| model | ROUGE-L vs reference [95 % CI] | change vs M1 [paired 95 % CI] | vs M1 by reference reward: W/T/L: score [CI] | vs M1 by frozen M1 judge: W/T/L: score [CI] | words [CI] | answers equal to M1's | trained on: pairs, chosen/rejected ROUGE-L, words | judge agrees with reference on its pairs | judge pairwise acc. [CI] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in found["models"]:
        pairs = row["trained_on"]
        trained = f"{pairs['pairs']}, {fmt(pairs['chosen_rouge_l'], 2)}/{fmt(pairs['rejected_rouge_l'], 2)}, {pairs['chosen_words']:.0f}/{pairs['rejected_words']:.0f}" if pairs else "—"
        agree = fmt(pairs["agreement_with_reference"], 2) if pairs else "—"
        judge = row["judge"] or {}
        interval = judge.get("pairwise_ci")
        judge_cell = fmt(judge.get("pairwise_accuracy"), 2) + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
        lines.append(f"| {row['model']} | {ci(row['rouge_l'])} | {ci(row['rouge_l_change'], sign=True) if row['model'] != 'M1' else '—'} | {outcome_cell(row['reference_win_rate'])} | {outcome_cell(row['m1_judge_win_rate'])} | {ci(row['words'], 1)} | {row['unchanged_vs_M1']} | {trained} | {agree} | {judge_cell} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
