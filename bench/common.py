"""What every benchmark shares: arguments, the model, the plain baseline, results files.

Each benchmark measures our stage and a baseline in the same process on the same inputs,
alternating their order over repeats, and reports the ratio: other programs share this
machine's cores, so absolute speeds drift while ratios taken side by side hold.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "src"))


def parser(description: str) -> argparse.ArgumentParser:
    """Arguments every benchmark takes; each adds its own sizes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="smollm2-135m-instruct", help="model name or directory (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"), help="run config whose stage settings are used")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--repeats", type=int, default=1, help="measure each side this many times, alternating which goes first")
    p.add_argument("--out", default=str(RESULTS), help="folder for the JSON result")
    return p


def setup(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(config, model, tokenizer) for ``args``, with torch threads set."""
    from srlm.config import load_config
    from srlm.runtime.models import load_model, load_tokenizer, resolve_model
    from srlm.runtime.resources import set_threads

    set_threads(args.threads)
    config = load_config(Path(args.config), [])
    path = resolve_model(args.model)
    return config, load_model(path), load_tokenizer(path)


def ift_rows(count: int) -> list[dict]:
    """The first ``count`` rows of the shipped IFT seed (prompt, response)."""
    from srlm.data.seed import bundled_path, load_ift

    return load_ift(bundled_path("ift_seed.jsonl"))[:count]


def side_by_side(units: list[tuple[Callable[[], dict], Callable[[], dict]]], repeats: int, key: str) -> tuple[dict, dict, list[float]]:
    """Run each unit's (ours, baseline) pair back to back, alternating which goes first.

    Interleaving at the unit level means both sides see the same load from other programs.
    Returns each side's summed counters with ``seconds`` (wall) and ``cpu_seconds`` (this
    process), and each unit's speed-up: our ``key`` per wall second over the baseline's.
    """
    totals: dict[str, dict] = {"ours": {}, "baseline": {}}
    speedups = []
    flip = False
    for _ in range(repeats):
        for ours, baseline in units:
            rates = {}
            for name, fn in [("ours", ours), ("baseline", baseline)][:: -1 if flip else 1]:
                wall, cpu = time.perf_counter(), time.process_time()
                counts = fn()
                counts["seconds"] = time.perf_counter() - wall
                rates[name] = counts[key] / counts["seconds"]
                counts["cpu_seconds"] = time.process_time() - cpu
                for counter, value in counts.items():
                    totals[name][counter] = totals[name].get(counter, 0) + value
            speedups.append(rates["ours"] / max(rates["baseline"], 1e-9))
            flip = not flip
    return totals["ours"], totals["baseline"], speedups


def race_stage_calls(backend: Any, model: Any, tokenizer: Any, conversations: list, sampling: Any, repeats: int, key: str, tally: Callable[[list[list[int]]], dict]) -> tuple[dict, dict, list[float], int]:
    """Our sampler vs ``plain_generate`` per conversation, one unit per call the stage makes
    (``backend.batch_size // n`` conversations), after one warm-up call on each side.

    ``tally`` counts what a call produced from its flat list of samples' token ids. Returns
    both sides' totals, each unit's speed-up in ``key`` per second, and the conversations per call.
    """
    n = sampling.n
    per_call = max(1, backend.batch_size // n)
    chunks = [conversations[i : i + per_call] for i in range(0, len(conversations), per_call)]

    def ours(chunk: list) -> dict:
        return tally([ids for samples in backend.generate_ids(chunk, sampling) for ids in samples])

    def baseline(chunk: list) -> dict:
        return tally([ids for c in chunk for ids in plain_generate(model, tokenizer, backend.encode(c), n, sampling, backend.stop_ids)])

    warm = [[{"role": "user", "content": "Hi"}]]
    ours(warm), baseline(warm)
    units = [(lambda c=c: ours(c), lambda c=c: baseline(c)) for c in chunks]
    return (*side_by_side(units, repeats, key), per_call)


@torch.inference_mode()
def plain_generate(model: Any, tokenizer: Any, ids: list[int], n: int, sampling: Any, stop_ids: list[int]) -> list[list[int]]:
    """The usual way: one ``model.generate`` call per prompt with ``num_return_sequences=n``.

    Returns each sample's new tokens up to (not including) its first stop token.
    """
    greedy = sampling.temperature == 0
    input_ids = torch.tensor([ids], device=model.device)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        num_return_sequences=n,
        max_new_tokens=sampling.max_new_tokens,
        do_sample=not greedy,
        temperature=None if greedy else sampling.temperature,
        top_p=None if greedy else sampling.top_p,
        top_k=None,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    return [until_stop(row, stop_ids) for row in out[:, len(ids) :].tolist()]


def until_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    stops = set(stop_ids)
    return next((ids[:i] for i, t in enumerate(ids) if t in stops), ids)


def machine() -> dict:
    """Where and when: the numbers mean little without this."""
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")), platform.processor())
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import trl

        info["trl"] = trl.__version__
    except ImportError:
        pass
    return info


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, result: dict, out: str) -> Path:
    """Save ``result`` as ``<out>/<name>.json`` and print it."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    result = {"bench": name, **result, "machine": machine()}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


def rate(counts: dict, key: str, clock: str = "seconds") -> float:
    return counts[key] / counts[clock] if counts[clock] else 0.0


def summary(mine: dict, theirs: dict, speedups: list[float], key: str) -> dict:
    """Rates of ``key`` per wall second and per CPU second, and their ratios (ours / baseline)."""
    import statistics

    out = {"ours": {**mine, f"{key}_per_s": rate(mine, key)}, "baseline": {**theirs, f"{key}_per_s": rate(theirs, key)}}
    out["ratio"] = rate(mine, key) / max(rate(theirs, key), 1e-9)
    # CPU seconds are less disturbed by other programs on the machine than wall seconds.
    out["ratio_cpu_time"] = rate(mine, key, "cpu_seconds") / max(rate(theirs, key, "cpu_seconds"), 1e-9)
    out["unit_speedups_wall"] = [round(s, 3) for s in speedups]
    out["median_unit_speedup_wall"] = statistics.median(speedups) if speedups else None
    return out


@contextlib.contextmanager
def timed_calls(owner: type, name: str):
    """Sum the wall seconds of every ``owner.name`` call made inside the block into
    ``spent["seconds"]`` (e.g. ``Trainer.train``, which our code calls somewhere inside)."""
    spent = {"seconds": 0.0}
    original = getattr(owner, name)

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent["seconds"] += time.perf_counter() - started

    setattr(owner, name, timed)
    try:
        yield spent
    finally:
        setattr(owner, name, original)


def worker_result(command: list[str], what: str) -> dict:
    """Run a benchmark worker in a fresh process (so ``ru_maxrss`` is its own) and return the
    JSON it prints on its last ``RESULT`` line; its output is shown when it fails."""
    import subprocess

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{what} worker failed (exit {done.returncode})")
    return json.loads(lines[-1][len("RESULT ") :])
