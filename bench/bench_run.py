"""The whole tiny run: ``srlm run configs/tiny.yaml`` in a subprocess with a temporary runs_dir.

Reports the wall time of each step (seed data + SFT, then per iteration: eval, prompts,
candidates, judgments, pairs, training), read from when each step's output file was finished,
and the peak resident memory of the run's process. Slow: minutes to tens of minutes.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, parser, write_result

STEPS = ("prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "meta_judgments.jsonl", "pairs.jsonl")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override, e.g. iterations=1")
    p.add_argument("--keep", help="use this runs_dir and keep it (default: a temporary folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(args.keep or tmp)
        command = [str(Path(sys.executable).with_name("srlm")), "run", args.config, f"runs_dir={runs_dir}", f"model={args.model}", f"threads={args.threads}", *args.set]
        started = time.time()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        finished = time.time()
        if done.returncode:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit(f"srlm run failed (exit {done.returncode})")
        # ru_maxrss of waited-for children: the run is the only child, so this is its peak.
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        run_dir = next(path.parent for path in runs_dir.glob("*/config.yaml"))
        timeline = step_times(run_dir, started, finished)
    iterations = {k: v for k, v in timeline.items() if k.startswith("iter") and "/" not in k}
    write_result("run", {
        "what": "wall time per step of `srlm run` and the run's peak resident memory",
        "model": args.model,
        "settings": {"config": args.config, "overrides": args.set},
        "seconds_total": round(finished - started, 1),
        "seconds_per_iteration": iterations,
        "seconds_per_step": timeline,
        "peak_rss_mb": round(peak_mb),
    }, args.out)


def step_times(run_dir: Path, started: float, finished: float) -> dict[str, float]:
    """Seconds of each step, as the gap between the times its output and the previous one's were finished."""
    marks: list[tuple[str, float]] = [("start", started)]
    t = 1
    while (run_dir / f"M{t}" / "COMPLETE").exists():
        marks.append((f"M{t} (seed data + SFT)" if t == 1 else f"iter{t - 1}/train", _mtime(run_dir / f"M{t}" / "COMPLETE")))
        if (run_dir / f"M{t}" / "eval.json").exists():
            marks.append((f"iter{t}/eval" if (run_dir / f"iter{t}").exists() else f"M{t}/eval", _mtime(run_dir / f"M{t}" / "eval.json")))
        marks += [(f"iter{t}/{name.split('.')[0]}", _mtime(run_dir / f"iter{t}" / name)) for name in STEPS if (run_dir / f"iter{t}" / name).exists()]
        t += 1
    marks.append(("exit", finished))
    times = {label: round(end - start, 1) for (_, start), (label, end) in zip(marks, marks[1:])}
    # An iteration runs from M(t)'s checkpoint to M(t+1)'s.
    for i in range(1, t - 1):
        times[f"iter{i}"] = round(_mtime(run_dir / f"M{i + 1}" / "COMPLETE") - _mtime(run_dir / f"M{i}" / "COMPLETE"), 1)
    return times


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


if __name__ == "__main__":
    main()
