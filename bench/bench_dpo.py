"""DPO: seconds per preference pair and peak memory, ours vs TRL's DPOTrainer with its defaults.

Each side trains in its own subprocess (so ``ru_maxrss`` is its own peak) on the same pairs:
- ours: ``srlm.training.dpo.train_dpo`` with the run config's ``dpo`` settings;
- baseline: ``DPOTrainer(model=<path>, args=DPOConfig(...))`` with TRL's defaults except
  ``bf16=False`` (TRL turns bf16 on by default; this CPU has no bf16 units), one epoch (the
  bench's length; time is reported per pair and epoch) and no checkpoint saving or reporting.
The headline is the time inside ``DPOTrainer.train`` on both sides (the training loop, with
the reference log-probs wherever each side computes them); loading the model, preparing the
data and saving the weights are reported beside it as the whole span.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from common import ift_rows, parser, peak_rss_mb, timed_calls, worker_result, write_result


def make_pairs(count: int) -> list[dict]:
    """Pairs from the IFT seed: its answer is chosen, the next prompt's answer is rejected."""
    rows = ift_rows(count + 1)
    return [{"prompt": a["prompt"], "chosen": a["response"], "rejected": b["response"]} for a, b in zip(rows, rows[1:])]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--pairs", type=int, default=16, help="preference pairs to train on")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for our side, e.g. dpo.lora.enabled=true")
    p.add_argument("--baseline-set", action="append", default=[], metavar="KEY=VALUE", help="DPOConfig override for the baseline, to see what part of the gap a setting makes, e.g. gradient_checkpointing=false")
    p.add_argument("--worker", choices=["ours", "trl"], help=argparse_hidden())
    p.add_argument("--pairs-file", help=argparse_hidden())
    args = p.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs.json"
        pairs_file.write_text(json.dumps(make_pairs(args.pairs)))
        sides: dict[str, list[dict]] = {"ours": [], "trl": []}
        for r in range(args.repeats):
            for side in ("ours", "trl") if r % 2 == 0 else ("trl", "ours"):
                sides[side].append(spawn(side, args, pairs_file))
    write_result("dpo", report(args, sides), args.out)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def spawn(side: str, args, pairs_file: Path) -> dict:
    """Run one side in a fresh Python process and return what it reports."""
    command = [sys.executable, __file__, "--worker", side, "--pairs-file", str(pairs_file), "--model", args.model, "--config", args.config, "--threads", str(args.threads)]
    command += [f"--set={item}" for item in args.set] + [f"--baseline-set={item}" for item in args.baseline_set]
    return worker_result(command, side)


def report(args, sides: dict[str, list[dict]]) -> dict:
    def side(runs: list[dict]) -> dict:
        seconds = sum(r["seconds"] for r in runs)
        pairs = sum(r["pairs"] for r in runs)
        return {"runs": runs, "train_seconds_per_pair": sum(r["train_seconds"] for r in runs) / pairs, "seconds_per_pair": seconds / pairs, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}

    ours, trl = side(sides["ours"]), side(sides["trl"])
    return {
        "what": "seconds per preference pair inside DPOTrainer.train (per epoch), the whole span (load + data + train + save) beside it, and peak resident memory",
        "model": args.model,
        "settings": {"pairs": args.pairs, "repeats": args.repeats, "overrides": args.set, "baseline_overrides": args.baseline_set},
        "ours_is": "srlm.training.dpo.train_dpo with the config's dpo section " + json.dumps(sides["ours"][0]["settings"]),
        "baseline_is": "trl.DPOTrainer(model=path) with DPOConfig defaults except bf16=False, num_train_epochs=1, save_strategy='no', report_to='none' " + json.dumps(sides["trl"][0]["settings"]),
        "ours": ours,
        "baseline": trl,
        "ratio": trl["train_seconds_per_pair"] / ours["train_seconds_per_pair"],
        "ratio_whole_span": trl["seconds_per_pair"] / ours["seconds_per_pair"],
        "memory_ratio": ours["peak_rss_mb"] / trl["peak_rss_mb"],
    }


def run_worker(args) -> dict:
    """Train one side and report its time, steps and peak memory."""
    from srlm.config import load_config
    from srlm.runtime.models import resolve_model
    from srlm.runtime.resources import set_threads

    set_threads(args.threads)
    config = load_config(Path(args.config), args.set if args.worker == "ours" else [])
    path = resolve_model(args.model)
    pairs = json.loads(Path(args.pairs_file).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.worker == "ours":
            stats, settings = train_ours(path, pairs, config, Path(tmp))
        else:
            stats, settings = train_trl(path, pairs, Path(tmp), dict(parse_setting(item) for item in args.baseline_set))
        seconds = time.perf_counter() - started
    return {"pairs": len(pairs), "seconds": seconds, **stats, "settings": settings, "peak_rss_mb": peak_rss_mb()}


def train_ours(path: str, pairs: list[dict], config, tmp: Path) -> tuple[dict, dict]:
    from dataclasses import asdict

    from srlm.runtime.models import load_tokenizer
    from srlm.training.dpo import train_dpo

    with timed_trainer_train() as spent:
        stats = train_dpo(path, load_tokenizer(path), pairs, config.dpo, tmp / "model", seed=config.seed, dtype=config.dtype)
    return {"steps": stats["steps"], "train_seconds": spent["seconds"], "final_loss": stats["final_loss"]}, asdict(config.dpo)


def timed_trainer_train():
    """Time every ``DPOTrainer.train`` call made inside the block, the same way on both sides
    (train_dpo calls it inside; the baseline calls it directly)."""
    import trl

    return timed_calls(trl.DPOTrainer, "train")


def parse_setting(item: str) -> tuple[str, object]:
    """``key=value`` with the value read as YAML (``false``, ``2``, ``1e-6``)."""
    import yaml

    key, _, value = item.partition("=")
    return key, yaml.safe_load(value)


def train_trl(path: str, pairs: list[dict], tmp: Path, overrides: dict) -> tuple[dict, dict]:
    from trl import DPOConfig, DPOTrainer

    from srlm.runtime.models import load_tokenizer
    from srlm.training.dpo import to_dataset

    args = DPOConfig(**{"output_dir": str(tmp / "trainer"), "bf16": False, "num_train_epochs": 1, "save_strategy": "no", "report_to": "none", **overrides})
    trainer = DPOTrainer(model=path, args=args, train_dataset=to_dataset(pairs), processing_class=load_tokenizer(path))
    with timed_trainer_train() as spent:
        result = trainer.train()
    trainer.save_model(str(tmp / "model"))
    settings = {k: getattr(args, k) for k in ("per_device_train_batch_size", "gradient_accumulation_steps", "gradient_checkpointing", "precompute_ref_log_probs", "max_length", "learning_rate", "bf16", "beta")}
    return {"steps": trainer.state.global_step, "train_seconds": spent["seconds"], "final_loss": result.metrics.get("train_loss")}, settings


if __name__ == "__main__":
    main()
