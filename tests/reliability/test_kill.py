"""Crash safety: SIGKILL a real run at many points, rerun it, and get an uninterrupted run's files.

Each trial starts a fresh run directory and kills it 3-6 times: first at a point chosen inside
one stage (rotating over every stage: seed data, SFT, M1 eval, prompts, candidates, judgments,
pairs, DPO, M2 eval), by a seeded random delay or at a seeded random occurrence of an injection
point (see kill_runner.py), then at random delays or occurrences later on. Then it runs to the
end, and every file must be byte-identical to the reference run's: no row lost, none duplicated,
no half-written file or checkpoint picked up (a checkpoint counts only with its COMPLETE marker;
identical weights show that an unmarked one was retrained).

``SRLM_KILL_BUDGET_S`` (default 90) sets how long the trials go on, at least one per stage.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from tests.reliability.harness import FAST, Runner, after_the_fact, attempt_log, fingerprint, without_seconds
from tests.reliability.kill_runner import POINTS

STAGES = ("seed data", "sft", "eval M1", "prompts", "candidates", "judgments", "pairs", "dpo", "eval M2")
BUDGET_S = float(os.environ.get("SRLM_KILL_BUDGET_S", "90"))

def leftovers(root: Path) -> list[str]:
    """Temporary files, partial row logs, staging folders or a lock left in a finished run."""
    bad = [p for p in root.rglob("*") if p.name.endswith((".tmp", ".partial")) or p.name == "run.lock"]
    bad += [p for p in root.glob("M*/model") if not (p.parent / "COMPLETE").is_file()]
    return sorted(rel for p in bad if not after_the_fact(rel := p.relative_to(root).as_posix()))


def windows(timeline: list[list]) -> dict[str, tuple[float, float]]:
    """stage -> (start, end) seconds into an uninterrupted run."""
    spans = {}
    for (start, stage), (end, _) in zip(timeline, timeline[1:]):
        spans[stage] = (start, end)
    return spans


def first_kill(rng: random.Random, stage: str, reference: dict, never_hit: bool) -> dict:
    """A kill inside ``stage`` of a fresh run: a random delay or a random injection occurrence."""
    options = [(point, spans[stage]) for point, spans in sorted(reference["calls"]["stages"].items()) if stage in spans and point in POINTS]
    start, end = windows(reference["timeline"]).get(stage, (0.0, 0.0))
    if options and (never_hit or end - start < 0.05 or rng.random() < 0.5):
        point, (low, high) = rng.choice(options)
        return {"inject": f"{point}:{rng.randint(low, high)}"}
    return {"kill_after": rng.uniform(start, end)}


def later_kill(rng: random.Random, stage: str, reference: dict) -> dict:
    """A kill somewhere in the rest of a resumed run (which skips what is already done)."""
    start = windows(reference["timeline"]).get(stage, (0.0, 0.0))[0]
    rest = max(reference["seconds"] - start, 0.2)
    if rng.random() < 0.5:
        return {"kill_after": rng.uniform(0.02, rest)}
    point = rng.choice(sorted(p for p in reference["calls"]["counts"] if p in POINTS))
    share = rest / reference["seconds"]
    return {"inject": f"{point}:{rng.randint(1, max(1, round(reference['calls']['counts'][point] * share)))}"}


def check_after_kill(dead: list[int], root: Path, seen: Counter) -> None:
    """What a kill may leave: a stale lock naming a dead process, unmarked checkpoints, torn logs."""
    lock = root / "run.lock"
    if lock.exists():
        # The last attempt may have died before reaching the lock: then an earlier one holds it.
        assert lock.read_text().strip() in ("", *(f"{socket.gethostname()}:{pid}" for pid in dead))
        seen["stale locks taken over"] += 1
    seen["unmarked checkpoints retrained"] += sum(1 for p in root.glob("M*/model") if not (p.parent / "COMPLETE").exists())
    seen["torn row logs"] += sum(1 for p in root.rglob("*.partial") if not p.read_bytes().endswith(b"\n") and p.stat().st_size)


def test_random_kills_resume_to_the_files_of_an_uninterrupted_run(runner: Runner, reference: dict, tmp_path: Path, counts: dict) -> None:
    rng = random.Random(20240118)
    want = fingerprint(reference["root"])
    kills: Counter = Counter()
    seen: Counter = Counter()
    started, trials = time.monotonic(), 0
    while trials < len(STAGES) or (time.monotonic() - started < BUDGET_S and trials < 200):
        runs = tmp_path / f"trial{trials}"
        target = min(STAGES, key=lambda s: (kills[s], rng.random()))
        plan = first_kill(rng, target, reference, never_hit=kills[target] == 0)
        dead: list[int] = []
        for _ in range(rng.randint(3, 6)):
            answer = runner.attempt(runs, **plan)
            if answer["outcome"] == "exited":
                assert answer["code"] == 0, attempt_log(runs)
                break
            kills[answer["frontier"]] += 1
            dead.append(answer["pid"])
            check_after_kill(dead, runs / "t", seen)
            plan = later_kill(rng, answer["frontier"], reference)
        final = runner.attempt(runs)
        assert final["outcome"] == "exited" and final["code"] == 0, attempt_log(runs)
        got = fingerprint(runs / "t")
        assert sorted(got) == sorted(want), f"trial {trials}: files differ"
        assert [k for k in want if got[k] != want[k]] == [], f"trial {trials}: contents differ"
        assert leftovers(runs / "t") == []
        shutil.rmtree(runs)
        trials += 1
    total = sum(kills.values())
    counts.update(kills=total, trials=trials, kill_stages={s: kills[s] for s in (*STAGES, "startup", "finished") if kills[s]})
    print(f"\nkill points tried: {total} in {trials} runs; {dict(kills)}; {dict(seen)}")
    assert all(kills[s] for s in STAGES), f"stages never killed: {[s for s in STAGES if not kills[s]]}"
    assert seen["stale locks taken over"] and seen["unmarked checkpoints retrained"] and seen["torn row logs"]


# Counts must be written before the file (or checkpoint marker) that makes a step count as done:
# a kill right after that file must not lose them.
def test_counts_survive_a_kill_between_a_stage_file_and_its_counts(runner: Runner, reference: dict, tmp_path: Path) -> None:
    """stats.json, M*/train.json and M*/config.yaml match the reference after kills right after
    a stage file or a checkpoint marker is in place (before the counts that follow it)."""
    runs = tmp_path / "runs"
    for done in ("M1/COMPLETE", "iter1/candidates.jsonl", "iter1/judgments.jsonl", "M2/COMPLETE"):
        assert runner.attempt(runs, inject=f"replaced:{done}")["outcome"] == "killed", done
    assert runner.attempt(runs)["code"] == 0, attempt_log(runs)
    root, ref_root = runs / "t", reference["root"]
    assert sorted(p.name for p in root.rglob("*.tmp")) == []
    for rel in ("iter1/stats.json", "M1/train.json", "M2/train.json"):
        assert (root / rel).exists(), f"{rel} missing"
        assert without_seconds(json.loads((root / rel).read_text())) == without_seconds(json.loads((ref_root / rel).read_text())), rel
    for rel in ("M1/config.yaml", "M2/config.yaml"):
        assert (root / rel).exists(), f"{rel} missing"


def test_second_run_on_a_busy_directory_exits_2_and_a_dead_owner_is_taken_over(runner: Runner, tiny_model_dir: Path, tmp_path: Path) -> None:
    from srlm.config import load_config, to_dict
    from tests.helpers.scripted import tiny_overrides

    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(to_dict(load_config(None, tiny_overrides(tiny_model_dir, runs, *FAST)))))
    runner.start(runs, inject="hold")
    try:
        held = runs / "t" / "held"
        deadline = time.monotonic() + 60
        while not held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        owner = held.read_text()
        second = subprocess.run([sys.executable, "-m", "srlm", "run", str(config)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        runner.kill()
        killed = runner.wait()
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    assert f"another srlm process ({socket.gethostname()}:{owner}) is running" in second.stderr
    assert killed["outcome"] == "killed" and str(killed["pid"]) == owner
    assert (runs / "t" / "run.lock").read_text().strip().endswith(f":{owner}")  # stale now
    resumed = runner.attempt(runs)
    assert resumed["outcome"] == "exited" and resumed["code"] == 0, attempt_log(runs)
    assert not (runs / "t" / "run.lock").exists()


def test_a_checkpoint_without_its_marker_is_retrained(runner: Runner, reference: dict, tmp_path: Path) -> None:
    """Killed after the weights moved into place but before COMPLETE: the next run retrains."""
    runs = tmp_path / "runs"
    # The second attempt retrains the unmarked M1 (its first rename), then dies at M2's.
    for model, other, n in (("M1", None, 1), ("M2", "M1", 2)):
        assert runner.attempt(runs, inject=f"model-renamed:{n}")["outcome"] == "killed"
        assert (runs / "t" / model / "model" / "model.safetensors").is_file()
        assert not (runs / "t" / model / "COMPLETE").exists()
        assert other is None or (runs / "t" / other / "COMPLETE").is_file()
    answer = runner.attempt(runs)
    assert answer["code"] == 0, attempt_log(runs)
    assert answer["calls"]["counts"]["model-saved"] == 1  # M2 retrained, not picked up as it was
    assert fingerprint(runs / "t") == fingerprint(reference["root"])
