"""Peak memory of training on CPU: SFT on judge rows and DPO, under the settings that trade memory
for time (micro-batch size, gradient checkpointing, LoRA).

Full fine-tuning with AdamW holds the weights, their gradients and two moments (4 × 538 MB for
SmolLM2-135M in float32) plus the activations of one micro-batch, which grow with its rows ×
tokens. Each setting trains in its own subprocess, so ``ru_maxrss`` is that setting's peak;
seconds per row are the time inside ``Trainer.train``, measured in the same run on the same
rows, so the table shows what each memory saving costs.

    .venv/bin/python bench/bench_memory.py                  # SFT and DPO settings, ~6 min
    .venv/bin/python bench/bench_memory.py --only sft --rows 16
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from common import ift_rows, parser, peak_rss_mb, timed_calls, worker_result, write_result

# (stage, label, config overrides); the first of each stage is configs/tiny.yaml as it was
# before this benchmark (micro-batch 4 for SFT, 2 for DPO, no checkpointing).
SETTINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("sft", "micro-batch 4", ("sft.micro_batch_size=4",)),
    ("sft", "micro-batch 2", ("sft.micro_batch_size=2",)),
    ("sft", "micro-batch 1", ("sft.micro_batch_size=1",)),
    ("sft", "micro-batch 4 + gradient checkpointing", ("sft.micro_batch_size=4", "sft.gradient_checkpointing=true")),
    ("dpo", "micro-batch 2", ("dpo.micro_batch_size=2",)),
    ("dpo", "micro-batch 1", ("dpo.micro_batch_size=1",)),
    ("dpo", "micro-batch 2 + gradient checkpointing", ("dpo.micro_batch_size=2", "dpo.gradient_checkpointing=true")),
)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=16, help="SFT judge rows and DPO pairs to train on")
    p.add_argument("--only", choices=["sft", "dpo"], help="one stage only")
    p.add_argument("--worker", help=__import__("argparse").SUPPRESS)
    p.add_argument("--set", action="append", default=[], help=__import__("argparse").SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return
    results = [dict(stage=stage, setting=label, overrides=list(overrides), **spawn(stage, overrides, args)) for stage, label, overrides in SETTINGS if not args.only or stage == args.only]
    write_result("memory", {"what": "peak resident memory and seconds per row inside Trainer.train, one subprocess per setting", "rows": args.rows, "results": results}, args.out)


def spawn(stage: str, overrides: tuple[str, ...], args) -> dict:
    command = [sys.executable, __file__, "--worker", stage, "--rows", str(args.rows), "--model", args.model, "--config", args.config, "--threads", str(args.threads)]
    command += [f"--set={item}" for item in overrides]
    return worker_result(command, stage)


def judge_rows(count: int) -> list[dict]:
    """SFT rows as the pipeline makes them for the judge: the rubric around graded answers."""
    from srlm.data.eft_builder import build_eft, judge_sft_rows
    from srlm.judging.templates import load_template

    template = load_template("additive_5pt", ("prompt", "response"))
    return judge_sft_rows(build_eft(ift_rows(count), seed=0), template)[:count]


def run_worker(args) -> dict:
    import transformers

    from srlm.config import load_config
    from srlm.runtime.models import load_tokenizer, resolve_model
    from srlm.runtime.resources import set_threads

    set_threads(args.threads)
    config = load_config(Path(args.config), args.set)
    path = resolve_model(args.model)
    tokenizer = load_tokenizer(path)
    with tempfile.TemporaryDirectory() as tmp, timed_calls(transformers.Trainer, "train") as spent:
        if args.worker == "sft":
            from srlm.training.sft import train_sft

            stats = train_sft(path, tokenizer, judge_rows(args.rows), config.sft, Path(tmp) / "model", seed=0, dtype="float32")
        else:
            from bench_dpo import make_pairs

            from srlm.training.dpo import train_dpo

            stats = train_dpo(path, tokenizer, make_pairs(args.rows), config.dpo, Path(tmp) / "model", seed=0, dtype="float32")
    return {"peak_rss_mb": round(peak_rss_mb()), "train_seconds_per_row": round(spent["seconds"] / args.rows, 3), "final_loss": stats.get("final_loss")}


if __name__ == "__main__":
    main()
