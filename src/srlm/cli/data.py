"""``srlm build-eft`` (judge-training data from human rankings, the paper's EFT recipe) and
``srlm import-oasst`` (an Open Assistant export as IFT and ranked EFT files)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.cli.common import config_arg, setup
from srlm.errors import UserError


def add_commands(subparsers: Any) -> None:
    """Register ``srlm build-eft`` and ``srlm import-oasst``."""
    _add_build_eft(subparsers)
    _add_import_oasst(subparsers)


def _add_build_eft(subparsers: Any) -> None:
    build = subparsers.add_parser("build-eft", help="judge-training data from human rankings (the paper's EFT recipe)")
    build.add_argument("--ranked", required=True, help="EFT JSONL with human-ranked responses (e.g. eft_ranked.jsonl from import-oasst)")
    build.add_argument("--model", required=True, help="the model that writes judgments (the SFT baseline in the paper)")
    build.add_argument("--out-train", required=True, help="train EFT JSONL to write (usable as data.eft)")
    build.add_argument("--out-heldout", required=True, help="held-out EFT JSONL to write (usable as data.eft_heldout)")
    build.add_argument("--heldout-fraction", type=float, default=0.25, help="share of kept prompts held out (default 0.25; SR: 541 of 2,171)")
    build.add_argument("--stats", default="", help="stats JSON to write (default: <out-train>.stats.json)")
    build.add_argument("--allow-judge-ties", action="store_true", help="keep prompts where the judge ties responses that people ordered")
    build.add_argument("--temperature", type=float, default=0.0, help="judgment sampling temperature (default 0 = greedy)")
    build.add_argument("--seed", type=int, default=None, help="seed of the split and the down-sampling (default: config seed)")
    config_arg(build)
    build.set_defaults(func=_build_eft)


def _build_eft(args: argparse.Namespace) -> int:
    from srlm.data import ranked_eft
    from srlm.data.seed import load_eft, write_jsonl
    from srlm.data.sources import is_eval_only
    from srlm.evaluation.judges import file_digest, model_context, resolve, work_file
    from srlm.runtime.rundir import write_json

    if not 0 <= args.heldout_fraction < 1:
        raise UserError(f"--heldout-fraction: {args.heldout_fraction} must be in [0, 1)")
    if is_eval_only(args.ranked):
        raise UserError(f"{args.ranked}: AlpacaEval data is for evaluation only, never judge training")
    config = setup(args.config)
    rows = load_eft(args.ranked)
    ref = resolve(args.model)
    train_path = Path(args.out_train)
    seed = config.seed if args.seed is None else args.seed
    log_path = work_file(train_path, "judgments", ref.path.resolve(), file_digest(Path(args.ranked)), args.temperature, config.judge)
    judge = model_context(ref, config)
    train, heldout, stats = ranked_eft.build(rows, judge, log_path, args.heldout_fraction, seed, args.temperature, args.allow_judge_ties)
    judge.release()
    stats |= {"ranked": args.ranked, "model": str(ref.path), "judge_template": config.judge.template, "judgments": str(log_path)}
    train_path.parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_heldout).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(train_path, train)
    write_jsonl(args.out_heldout, heldout)
    stats_path = Path(args.stats or train_path.with_suffix(".stats.json"))
    write_json(stats_path, stats)
    print(f"kept {stats['kept_prompts']} of {stats['input_prompts']} prompts; train {stats['train_prompts']} prompts "
          f"({stats['train_judgments']} judgments), held-out {stats['heldout_prompts']}; dropped {stats['dropped_prompts']}")
    print(f"written: {train_path}, {args.out_heldout}, {stats_path}")
    return 0


def _add_import_oasst(subparsers: Any) -> None:
    oasst = subparsers.add_parser("import-oasst", help="Open Assistant export -> ift.jsonl, eft_ranked.jsonl, stats.json")
    oasst.add_argument("file", metavar="FILE", help="oasst1 messages or trees export (.jsonl or .jsonl.gz)")
    oasst.add_argument("--out-dir", required=True, help="folder to write into")
    oasst.add_argument("--lang", default="en", help="language to keep (default en; 'all' keeps every language)")
    oasst.set_defaults(func=_import_oasst)


def _import_oasst(args: argparse.Namespace) -> int:
    from srlm.data.oasst import import_oasst
    from srlm.data.seed import write_jsonl
    from srlm.runtime.rundir import write_json

    result = import_oasst(args.file, lang=None if args.lang == "all" else args.lang)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "ift.jsonl", result.ift)
    write_jsonl(out / "eft_ranked.jsonl", result.eft)
    stats = {"source": args.file, "lang": args.lang, "messages": result.messages, "ift_rows": len(result.ift),
             "eft_ranked_prompts": len(result.eft), "eft_ranked_responses": sum(len(r["responses"]) for r in result.eft),
             "dropped": result.dropped}
    write_json(out / "stats.json", stats)
    print(f"{result.messages} messages -> {len(result.ift)} IFT rows, {len(result.eft)} ranked prompts; dropped {result.dropped}")
    print(f"written: {out / 'ift.jsonl'}, {out / 'eft_ranked.jsonl'}, {out / 'stats.json'}")
    return 0
