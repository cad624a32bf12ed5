"""Judge-quality study: how good a judge does SFT make of the embedded model, and with what?

Each trial fine-tunes M0 the way the pipeline makes M1 (``srlm.training.sft.train_sft`` on IFT
rows + graded judge rows from ``srlm.data.eft_builder``) and, at the end of every epoch,
measures the model as a judge on held-out EFT prompts that no trial trains on (the pipeline's
own split of the whole IFT seed, ``data.heldout_fraction`` 0.25, seed 0). Every measurement
reports the same judgments scored two ways: the digit the judge wrote (``judge.scoring: text``)
and the expected digit from its probabilities at its own ``Score: `` (``expected``); with
``--samples`` > 1 also the mean of sampled judgments (temperature 0.7, as in the loop).

Metrics are those of ``srlm eval judge`` (pairwise accuracy with ties counting half, Spearman,
Kendall, exact match, 5-best, parse rate) with 95 % bootstrap intervals over prompts.
Results go to ``experiments/results/judge_study.json`` (trial by trial, so an interrupted study
resumes where it stopped) and ``judge_study.md``.

    .venv/bin/python experiments/judge_study.py --samples 3     # the default trials, ~1 h on 2 cores
    .venv/bin/python experiments/judge_study.py --trials base,lora --heldout 24
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from srlm.backends.base import Sampling  # noqa: E402
from srlm.data.eft_builder import DEGRADATIONS, build_eft, judge_sft_rows, split_heldout  # noqa: E402
from srlm.data.seed import bundled_path, load_ift  # noqa: E402
from srlm.evaluation.metrics import Group, bootstrap_intervals, reward_model_metrics  # noqa: E402
from srlm.judging.templates import load_template  # noqa: E402


@dataclass(frozen=True)
class Trial:
    """One way of making M1. ``eft`` / ``ift``: rows of each in the SFT set."""

    eft: int = 48
    ift: int = 36
    kinds: tuple[str, ...] = DEGRADATIONS
    lora: bool = False
    lora_r: int = 16
    learning_rate: float = 5e-5
    epochs: int = 1
    micro_batch_size: int = 4
    batch_size: int = 8
    note: str = ""


# The first is what configs/tiny.yaml did before this study; each other changes a few things.
TRIALS: dict[str, Trial] = {
    "base": Trial(note="tiny.yaml before the study: 36 IFT + 48 judge rows, full FT, lr 5e-5, 1 epoch"),
    "lr1e-4": Trial(learning_rate=1e-4, epochs=2, note="larger step, 2 epochs"),
    "eft144_lr1e-4": Trial(eft=144, learning_rate=1e-4, epochs=2, note="3x the judge rows, larger step"),
    "eft144_lora": Trial(eft=144, lora=True, learning_rate=3e-4, epochs=2, note="LoRA r=16 on all linear layers"),
    "eft240_lr1e-4": Trial(eft=240, learning_rate=1e-4, epochs=2, note="5x the judge rows"),
    # Not in the default list (time); run them by name.
    "eft144": Trial(eft=144, epochs=2, note="3x the judge rows at the old step"),
    "eft144_no_offtopic": Trial(eft=144, learning_rate=1e-4, epochs=2, kinds=("good", "partial", "vague", "truncated"), note="without off-topic answers"),
    "eft_only144": Trial(eft=144, ift=0, learning_rate=1e-4, epochs=2, note="judge rows only (MR's SFT has no IFT)"),
}
DEFAULT_TRIALS = ("base", "lr1e-4", "eft144_lr1e-4", "eft144_lora", "eft240_lr1e-4")


def main() -> None:
    args = parse_args()
    from srlm.runtime.models import resolve_model
    from srlm.runtime.resources import set_threads

    set_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "judge_study.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {"trials": {}}
    results["setup"] = setup_info(args)
    # A study grows over several invocations (trials are kept); each one is recorded.
    results.setdefault("invocations", []).append({"date": results["setup"]["date"], "command": results["setup"]["command"]})
    model_path = resolve_model(args.model)
    train_pool, heldout = split_data(args.seed)
    heldout = heldout[: args.heldout] if args.heldout else heldout
    names = args.trials.split(",") if args.trials else list(DEFAULT_TRIALS)
    unknown = [n for n in names if n not in TRIALS]
    if unknown:
        raise SystemExit(f"unknown trial(s) {unknown}; known: {list(TRIALS)}")
    if "M0" not in results["trials"] and not args.skip_m0:
        results["trials"]["M0"] = {"trial": None, "epochs": [measure_path(model_path, heldout, args)]}
        write(results, results_file, out)
    for name in names:
        if name in results["trials"] and not args.redo:
            print(f"{name}: done before, kept (--redo to run it again)")
            continue
        trial = replace(TRIALS[name], epochs=args.epochs or TRIALS[name].epochs)
        results["trials"][name] = run_trial(trial, model_path, train_pool, heldout, args)
        write(results, results_file, out)
    print((out / "judge_study.md").read_text())


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct", help="M0: a directory or the embedded model's name")
    p.add_argument("--trials", default="", help=f"comma-separated trial names (default: {','.join(DEFAULT_TRIALS)}; also: {', '.join(t for t in TRIALS if t not in DEFAULT_TRIALS)})")
    p.add_argument("--heldout", type=int, default=24, help="held-out prompts to judge (5 graded answers each; 0 = all 48)")
    p.add_argument("--samples", type=int, default=0, help="also judge each answer this many times at temperature 0.7 (last epoch only; 0 = off)")
    p.add_argument("--epochs", type=int, default=0, help="override every trial's epochs")
    p.add_argument("--max-new-tokens", type=int, default=96, help="token limit of one judgment (tiny.yaml: 96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--skip-m0", action="store_true", help="do not measure the untrained model")
    p.add_argument("--redo", action="store_true", help="run trials again that the results file already has")
    p.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    return p.parse_args()


def split_data(seed: int) -> tuple[list[dict], list[dict]]:
    """(IFT train pool, EFT held-out): the pipeline's split of the whole shipped seed."""
    ift = load_ift(bundled_path("ift_seed.jsonl"))
    train, heldout = split_heldout(ift, 0.25, seed)
    return train, build_eft(heldout, seed=seed)


def sft_rows(trial: Trial, pool: list[dict], seed: int) -> list[dict]:
    """The trial's SFT set, built as ``stages/seed_data.py`` builds it."""
    template = load_template("additive_5pt", ("prompt", "response"))
    judge = judge_sft_rows(build_eft(pool, seed=seed, kinds=trial.kinds), template)[: trial.eft]
    return [{"prompt": r["prompt"], "response": r["response"]} for r in pool[: trial.ift]] + judge


def run_trial(trial: Trial, model_path: str, pool: list[dict], heldout: list[dict], args: argparse.Namespace) -> dict:
    """Train one trial, measuring the judge after every epoch (``trial.epochs`` is what ran,
    after ``--epochs``)."""
    from transformers import TrainerCallback

    from srlm.config import LoraConfig, SFTConfig
    from srlm.runtime.models import load_tokenizer
    from srlm.training.sft import train_sft

    rows = sft_rows(trial, pool, args.seed)
    tokenizer = load_tokenizer(model_path)
    epochs: list[dict] = []
    final_epoch = trial.epochs

    class MeasureEachEpoch(TrainerCallback):
        def on_epoch_end(self, _args, state, _control, model=None, **_kwargs):
            epoch = round(state.epoch or 0)
            samples = args.samples if epoch == final_epoch else 0
            model.eval()
            epochs.append({"epoch": epoch, "train_seconds": round(time.time() - started, 1), **measure(model, tokenizer, heldout, args, samples)})
            model.train()
            print(f"  epoch {epoch}: {summary_line(epochs[-1])}", flush=True)

    # dropout 0: the study's recorded results were measured before sft.dropout existed (SmolLM2's own 0.0).
    cfg = SFTConfig(epochs=trial.epochs, learning_rate=trial.learning_rate, batch_size=trial.batch_size, micro_batch_size=trial.micro_batch_size, max_length=640, dropout=0.0, lora=LoraConfig(enabled=trial.lora, r=trial.lora_r, alpha=2 * trial.lora_r))
    print(f"trial {trial}: {len(rows)} SFT rows", flush=True)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        stats = train_sft(model_path, tokenizer, rows, cfg, Path(tmp) / "model", seed=args.seed, dtype="float32", callbacks=[MeasureEachEpoch()])
    measured = sum(e["measure_seconds"] for e in epochs)
    return {"trial": asdict(trial), "sft_rows": len(rows), "train": {**stats, "seconds_without_measuring": round(stats["seconds"] - measured, 1)}, "epochs": epochs}


def measure_path(model_path: str, heldout: list[dict], args: argparse.Namespace) -> dict:
    from srlm.runtime.models import load_model, load_tokenizer

    return {"epoch": 0, **measure(load_model(model_path), load_tokenizer(model_path), heldout, args, args.samples)}


def measure(model: Any, tokenizer: Any, heldout: list[dict], args: argparse.Namespace, samples: int) -> dict:
    """Greedy judgments of every held-out answer (and ``samples`` sampled ones), scored both ways."""
    from srlm.backends.transformers_backend import TransformersBackend
    from srlm.judging.judge import judge_conversation, response_items

    started = time.time()
    # A fresh backend: its cached rubric prefix must come from the weights as they are now.
    backend = TransformersBackend(model, tokenizer, batch_size=16)
    template = load_template("additive_5pt", ("prompt", "response"))
    items = response_items(heldout)
    conversations = [judge_conversation(template, item["prompt"], item["response"]) for item in items]
    out = {"greedy": judge_and_score(backend, conversations, items, heldout, Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens, n=1, seed=args.seed))}
    if samples:
        out[f"sampled_{samples}"] = judge_and_score(backend, conversations, items, heldout, Sampling(temperature=0.7, top_p=0.9, max_new_tokens=args.max_new_tokens, n=samples, seed=args.seed))
    out["measure_seconds"] = round(time.time() - started, 1)
    return out


def judge_and_score(backend: Any, conversations: list, items: list[dict], heldout: list[dict], sampling: Sampling) -> dict:
    """Judge as the judgments stage does, then score each judgment by its written digit and by
    its expected digit (``judge.scoring: expected``)."""
    from srlm.evaluation.judge_eval import groups_from
    from srlm.judging.judge import add_expected_means, judgment_row, text_mean

    per_call = max(1, backend.batch_size // sampling.n)  # as the judgments stage chunks
    rows: list[dict] = []
    for start in range(0, len(items), per_call):
        chunk = slice(start, start + per_call)
        rows += [judgment_row(item, texts) for item, texts in zip(items[chunk], backend.generate(conversations[chunk], sampling))]
    judged = {row["id"]: row for row in rows}
    by_text = metrics_with_ci(groups_from(heldout, judged, text_mean))
    add_expected_means(backend, rows, conversations)  # mean_score is now the expected digit's
    responses = [resp for row in heldout for resp in row["responses"]]  # response_items' order
    return {
        "text": by_text,
        "expected": metrics_with_ci(groups_from(heldout, judged)),
        "score_histogram": np.bincount([int(round(s)) for row in rows for s in row["scores"] if s is not None and 0 <= s <= 5], minlength=6).tolist(),
        "examples": [{"kind": resp.get("kind"), "label": resp["score"], "judgment": row["judgments"][0]} for resp, row in list(zip(responses, rows))[:5]],
    }


def metrics_with_ci(groups: list[Group]) -> dict:
    """Reward-model metrics and 95 % bootstrap intervals (prompts resampled) of the main two."""
    keep = ("pairwise_accuracy", "spearman", "kendall", "exact_match", "five_best", "parse_rate", "share_top_score", "mean_judge_score", "n_groups", "n_pairs", "n_judge_tie")
    result = {k: v for k, v in reward_model_metrics(groups).items() if k in keep}
    result.update({f"{k}_ci95": v for k, v in bootstrap_intervals(groups).items()})
    return result


def summary_line(epoch: dict) -> str:
    g = epoch["greedy"]
    return f"text pairwise {_f(g['text']['pairwise_accuracy'])} spearman {_f(g['text']['spearman'])} parse {_f(g['text']['parse_rate'])} | expected pairwise {_f(g['expected']['pairwise_accuracy'])} spearman {_f(g['expected']['spearman'])} ({epoch['measure_seconds']} s)"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def setup_info(args: argparse.Namespace) -> dict:
    import platform

    import torch
    import transformers
    import trl

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": args.model, "heldout_prompts": args.heldout or 48, "max_new_tokens": args.max_new_tokens,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "command": " ".join(sys.argv),
    }


def write(results: dict, results_file: Path, out: Path) -> None:
    results_file.write_text(json.dumps(results, indent=1) + "\n")
    (out / "judge_study.md").write_text(markdown(results))


def markdown(results: dict) -> str:
    """One line per (trial, epoch): the greedy judge scored by written digit and by expected digit."""
    lines = [
        f"Held-out: {results['setup']['heldout_prompts']} prompts × 5 graded answers; greedy judgments; 95 % bootstrap intervals over prompts. {results['setup']['date']}",
        "",
        "| trial | epoch | SFT rows | training s (so far) | parse rate | pairwise (text) | Spearman (text) | pairwise (expected) | Spearman (expected) | Kendall (expected) | 5-best (text) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, trial in results["trials"].items():
        measured_before = 0.0
        for e in trial["epochs"]:
            t, x = e["greedy"]["text"], e["greedy"]["expected"]
            # train_seconds counts from the start of training; earlier epochs' measuring is not training.
            train_s = round(e["train_seconds"] - measured_before, 1) if "train_seconds" in e else ""
            measured_before += e["measure_seconds"]
            lines.append(
                f"| {name} | {e['epoch']} | {trial.get('sft_rows', 0)} | {train_s} | {_f(t['parse_rate'])} | {_ci(t, 'pairwise_accuracy')} | {_ci(t, 'spearman')} | {_ci(x, 'pairwise_accuracy')} | {_ci(x, 'spearman')} | {_f(x['kendall'])} | {_f(t['five_best'])} |"
            )
    sampled = [(name, e, key) for name, trial in results["trials"].items() for e in trial["epochs"] for key in e if key.startswith("sampled_")]
    if sampled:
        lines += ["", "Sampled judgments (temperature 0.7), averaged per answer:", "", "| trial | epoch | samples | pairwise (text) | Spearman (text) | pairwise (expected) | Spearman (expected) |", "|---|---|---|---|---|---|---|"]
        for name, e, key in sampled:
            t, x = e[key]["text"], e[key]["expected"]
            lines.append(f"| {name} | {e['epoch']} | {key.split('_')[1]} | {_ci(t, 'pairwise_accuracy')} | {_ci(t, 'spearman')} | {_ci(x, 'pairwise_accuracy')} | {_ci(x, 'spearman')} |")
    return "\n".join(lines) + "\n"


def _ci(metrics: dict, key: str) -> str:
    interval = metrics.get(f"{key}_ci95")
    return _f(metrics[key]) + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


if __name__ == "__main__":
    main()
