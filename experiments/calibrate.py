"""Budget calibration with the positive control: which DPO budget moves the embedded model?

Every grid point is ``configs/tiny_control.yaml`` (the reference reward judges; iteration
prompts are training seed prompts; 57 held-out prompts measure) with a few keys overridden:
prompts (= pairs at most) per iteration, candidates per prompt, reward margin, learning rate,
epochs, beta, iterations, length control. All points share one M1 (same seed data and SFT):
the first point trains it, the others link its checkpoint and copy its held-out answers.

Resumable at two levels: each point is an ordinary ``srlm run`` (which resumes where it
stopped), and a point whose measurements are in the results file is not run again. Results,
failures included, go to ``experiments/results/calibration.json`` and ``calibration.md`` after
every point, so a stopped study loses nothing.

    nice -n 5 python experiments/calibrate.py [--only NAME ...] [--runs-dir runs/calibration]
    python experiments/calibrate.py --report     # measure the points as far as they got
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
sys.path.insert(0, str(ROOT / "src"))

from control import ci, outcome_cell, summarize  # noqa: E402

BASE = ROOT / "configs" / "tiny_control.yaml"
RESULTS = ROOT / "experiments" / "results"

# Every point starts from this budget, stated key by key so that a point means the same when
# tiny_control.yaml moves to the calibrated budget: 16 prompts x 6 candidates, pairs with a
# reference-reward margin >= 0.25, DPO at lr 2e-5 for 2 epochs in batches of 2, M1 -> M3.
BASELINE = ["prompt_gen.num_prompts=16", "candidates.n=6", "pairs.min_margin=0.25", "dpo.learning_rate=2e-5", "dpo.epochs=2", "dpo.batch_size=2", "iterations=2", "pairs.length_rho=0"]
# (name, overrides of BASELINE). Ordered by what the probe suggests first:
# tiny.yaml's own budget under the control, then more candidates with a margin filter at a
# learning rate that moved answers, then stronger steps, more pairs, and length control.
GRID: list[tuple[str, list[str]]] = [
    ("p16_n6_m0.25_lr2e-5_e2_b2", []),
    ("tiny_budget_p8_n4_m0_lr5e-6_e1_b4", ["prompt_gen.num_prompts=8", "candidates.n=4", "pairs.min_margin=0", "dpo.learning_rate=5e-6", "dpo.epochs=1", "dpo.batch_size=4"]),
    ("p16_n6_m0.25_lr5e-5_e2_b2", ["dpo.learning_rate=5e-5"]),
    ("p32_n6_m0.25_lr2e-5_e2_b2", ["prompt_gen.num_prompts=32"]),
    # tiny.yaml's prompts and candidates with this DPO step: what the default run could afford.
    ("p8_n4_m0_lr2e-5_e2_b2", ["prompt_gen.num_prompts=8", "candidates.n=4", "pairs.min_margin=0"]),
    # 64 prompts x 2 iterations = 128 of the 134 training seed prompts (each is used once).
    ("p64_n6_m0.25_lr2e-5_e2_b2", ["prompt_gen.num_prompts=64"]),
    ("p16_n6_m0.25_lr2e-5_e2_b2_rho0.32", ["pairs.length_rho=0.32"]),
    # A third iteration (M4, as SR's M1 -> M4) of the base point, the budget of
    # configs/tiny_control.yaml and configs/tiny_self_calibrated.yaml.
    ("p16_n6_m0.25_lr2e-5_e2_b2_i3", ["iterations=3"]),
    # Gentler steps on more pairs, and a tighter hold on the reference model (SR/MR: beta 0.1).
    ("p32_n6_m0.25_lr5e-6_e2_b2", ["prompt_gen.num_prompts=32", "dpo.learning_rate=5e-6"]),
    ("p32_n6_m0.25_lr2e-5_e2_b2_beta0.5", ["prompt_gen.num_prompts=32", "dpo.beta=0.5"]),
]
# A point whose overrides only add iterations to another's starts from that point's files:
# its first iterations are the same computation (same config, same seeds), so they are reused.
EXTENDS = {"p16_n6_m0.25_lr2e-5_e2_b2_i3": "p16_n6_m0.25_lr2e-5_e2_b2"}
# Keys a point may not change: they make M1 and its measurements, which all points share.
SHARED = ("data.", "sft.", "eval.", "model=", "seed=")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", help="run only these grid points (names)")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "calibration")
    p.add_argument("--report", action="store_true", help="run nothing: measure every point's run as far as it got and rewrite the results")
    args = p.parse_args()
    results = load_results()
    for name, overrides in GRID:  # the commands as the grid states them now (same computation)
        if name in results:
            results[name] |= {"overrides": overrides, "command": command_of(overrides)}
    if args.report:
        for name, overrides in GRID:
            run_dir = args.runs_dir / f"cal_{name}"
            if results.get(name, {}).get("status") != "complete":
                status = "incomplete (stopped or still running)" if run_dir.exists() else "not started"
                results[name] = {"overrides": overrides, "command": command_of(overrides), "status": status, **measure(run_dir)}
        save_results(results)
        return
    for name, overrides in GRID:
        if args.only and name not in args.only:
            continue
        if results.get(name, {}).get("status") == "complete":
            continue
        results[name] = run_point(name, overrides, args.runs_dir)
        save_results(results)


def load_results() -> dict:
    path = RESULTS / "calibration.json"
    return json.loads(path.read_text())["points"] if path.exists() else {}


def run_point(name: str, overrides: list[str], runs_dir: Path) -> dict:
    """Run one grid point to completion (or failure) and measure it."""
    if any(o.startswith(SHARED) for o in overrides):
        raise SystemExit(f"{name}: overrides {overrides} change what all points share ({SHARED})")
    run_dir = runs_dir / f"cal_{name}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    extra = []
    if name in EXTENDS:
        extend_from(runs_dir / f"cal_{EXTENDS[name]}", run_dir)
        extra = ["--force"]  # the copied config differs in name and iterations alone
    share_m1(runs_dir, run_dir)
    command = [sys.executable, "-m", "srlm", "run", str(BASE), f"name=cal_{name}", f"runs_dir={runs_dir}", *BASELINE, *overrides, *extra]
    started = time.time()
    log_file = runs_dir / f"cal_{name}.log"  # the run's progress and, on failure, its last lines
    with open(log_file, "a", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    point = {"overrides": overrides, "command": command_of(overrides), "seconds_this_session": round(time.time() - started)}
    if done.returncode != 0:
        tail = [line for line in log_file.read_text(encoding="utf-8").splitlines() if line.strip()][-3:]
        return point | {"status": "failed", "returncode": done.returncode, "error": " | ".join(tail), **measure(run_dir)}
    return point | {"status": "complete", **measure(run_dir)}


def command_of(overrides: list[str]) -> str:
    return " ".join(["srlm run configs/tiny_control.yaml", *BASELINE, *overrides])


def extend_from(donor: Path, run_dir: Path) -> None:
    """Copy a finished point's files (its checkpoints as links) to start a longer run from them."""
    if run_dir.exists():
        return
    if not (donor / "config.yaml").exists():
        raise SystemExit(f"{run_dir.name} extends {donor.name}, which has not run: run it first")
    shutil.copytree(donor, run_dir, ignore=shutil.ignore_patterns("model", "trainer", "*.lock"))
    for model in donor.glob("M*/model"):
        (run_dir / model.parent.name / "model").symlink_to(model.resolve())


def share_m1(runs_dir: Path, run_dir: Path) -> None:
    """Link an existing point's M1 checkpoint and copy its marker, seed data and held-out answers."""
    from srlm.runtime.rundir import model_done

    if model_done(run_dir / "M1" / "model"):
        return
    donors = [d for d in sorted(runs_dir.glob("cal_*")) if d != run_dir and model_done(d / "M1" / "model") and not (d / "M1" / "model").is_symlink()]
    if not donors:
        return  # this point trains M1 itself
    donor = donors[0]
    (run_dir / "M1").mkdir(parents=True, exist_ok=True)
    (run_dir / "M1" / "model").symlink_to((donor / "M1" / "model").resolve())
    if not (run_dir / "data").exists():
        shutil.copytree(donor / "data", run_dir / "data")
    # The marker last: a point stopped while linking trains its own M1 instead of a half copy.
    for name in ("win_rate_answers.jsonl", "train.json", "config.yaml", "COMPLETE"):
        if (donor / "M1" / name).exists():
            shutil.copy(donor / "M1" / name, run_dir / "M1" / name)


def measure(run_dir: Path) -> dict:
    """What the run's files say so far (partial runs included), plus its stage timings."""
    if not run_dir.exists():
        return {"models": []}
    from srlm.pipeline import status
    from srlm.runtime.rundir import RunDir

    found = summarize(run_dir)
    # How far it got: each model and stage file, done or not, and its rows so far.
    progress = [f"{row['step']}: {'done' if row['done'] else 'partial'}" + (f" ({row['rows']} rows)" if row.get("rows") is not None else "") for row in status(RunDir(run_dir))]
    return {"run": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else str(run_dir), "progress": progress, "models": found["models"], "candidate_spread": found["candidate_spread"]}


def save_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "calibration.json").write_text(json.dumps({"base_config": "configs/tiny_control.yaml", "points": results}, indent=1) + "\n")
    (RESULTS / "calibration.md").write_text(markdown(results) + "\n")


def compact(results: dict) -> str:
    """The README's grid table: per point, what it changes and its last model against M1."""
    lines = ["| point | changes from the base (16 prompts x 6, margin 0.25, lr 2e-5, 2 epochs, batch 2, beta 0.1) | last model | change vs M1 [paired CI] | equal to M1 | words (M1: 51.7) |", "|---|---|---|---|---|---|"]
    for name, point in results.items():
        last = point.get("models", [])[-1] if len(point.get("models", [])) > 1 else None
        changes = ", ".join(point["overrides"]) or "none"
        if last is None:
            lines.append(f"| {name} | {changes} | {point['status']} | | | |")
            continue
        lines.append(f"| {name} | {changes} | {last['model']} | {ci(last['rouge_l_change'], sign=True)} | {last['unchanged_vs_M1']} | {last['words'][0]:.1f} |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    lines = [
        "# DPO budget calibration with the positive control (experiments/calibrate.py)",
        "",
        "Base: `configs/tiny_control.yaml` (reference reward = 5 x ROUGE-L F1 against the seed's reference answer; 48 held-out prompts, greedy answers; intervals are bootstrap 95 % over prompts, paired for changes). Each row is one model of one grid point; a point that failed says why.",
        "",
        "| point | status | model | ROUGE-L [CI] | change vs M1 [paired CI] | vs M1 by reference reward W/T/L: score [CI] | words [CI] | equal to M1 | pairs trained on, chosen/rejected ROUGE-L, words | DPO steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, point in results.items():
        status = point["status"] + (f": {point['error']}" if point.get("error") else "")
        if not point.get("models"):
            reached = "; ".join(point.get("progress", [])) or "—"
            for label, found in point.get("candidate_spread", {}).items():
                reached += f"; {label} candidates so far: {found['prompts']} prompts x {found['candidates_per_prompt']}, best - worst ROUGE-L {ci(found['best_minus_worst_rouge_l'])}, spread >= 0.05 for {found['share_with_spread_at_least_0.05']:.0%}, best/worst {found['best_words']:.0f}/{found['worst_words']:.0f} words"
            lines.append(f"| {name} | {status} | reached: {reached} | | | | | | | |")
        for row in point.get("models", []):
            pairs = row.get("trained_on")
            trained = f"{pairs['pairs']}, {pairs['chosen_rouge_l']:.2f}/{pairs['rejected_rouge_l']:.2f}, {pairs['chosen_words']:.0f}/{pairs['rejected_words']:.0f}" if pairs else "—"
            steps = str(pairs.get("optimizer_steps")) if pairs else "—"
            change = ci(row["rouge_l_change"], sign=True) if row["model"] != "M1" else "—"
            lines.append(f"| {name} | {status} | {row['model']} | {ci(row['rouge_l'])} | {change} | {outcome_cell(row['reference_win_rate'])} | {ci(row['words'], 1)} | {row['unchanged_vs_M1']} | {trained} | {steps} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
