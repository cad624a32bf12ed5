"""``srlm import-oasst`` (an Open Assistant export split by tree into IFT, EFT-train and held-out
files) and ``srlm build-eft`` (judge-training data from human rankings, the paper's EFT recipe).
The recipe from an export to a run is docs/reproduce.md."""

from __future__ import annotations

import argparse
import sys
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
    build.add_argument("--ranked", required=True, help="EFT JSONL with human-ranked responses (e.g. eft_ranked_train.jsonl from import-oasst)")
    build.add_argument("--model", required=True, help="the model that writes judgments (the SFT baseline in the paper)")
    build.add_argument("--out-train", required=True, help="train EFT JSONL to write (usable as data.eft)")
    build.add_argument("--out-heldout", default="", help="held-out EFT JSONL to write, with --heldout-fraction > 0 (usable as data.eft_heldout)")
    build.add_argument("--heldout-fraction", type=float, default=0.0,
                       help="share of the --ranked prompts held out BEFORE judging (default 0: import-oasst already held out whole trees)")
    build.add_argument("--max-train", type=int, default=None, help="train judgments to keep (default: config data.oasst.eft_train, SR 1,630; 0 = all)")
    build.add_argument("--stats", default="", help="stats JSON to write (default: <out-train>.stats.json)")
    build.add_argument("--allow-judge-ties", action="store_true", help="keep prompts where the judge ties responses that people ordered")
    build.add_argument("--temperature", type=float, default=0.0, help="judgment sampling temperature (default 0 = greedy)")
    build.add_argument("--seed", type=int, default=None, help="seed of the split and the down-sampling (default: config seed)")
    config_arg(build)
    build.set_defaults(func=_build_eft)


def _build_eft(args: argparse.Namespace) -> int:
    from srlm.data import ranked_eft
    from srlm.data.seed import load_eft
    from srlm.data.sources import is_eval_only
    from srlm.evaluation.judges import file_digest, model_context, resolve, work_file

    if not 0 <= args.heldout_fraction < 1:
        raise UserError(f"--heldout-fraction: {args.heldout_fraction} must be in [0, 1)")
    if (args.heldout_fraction > 0) != bool(args.out_heldout):
        raise UserError("--out-heldout and --heldout-fraction > 0 go together (the held-out part is split off before judging)")
    if is_eval_only(args.ranked):
        raise UserError(f"{args.ranked}: AlpacaEval data is for evaluation only, never judge training")
    config = setup(args.config)
    rows = load_eft(args.ranked)
    ref = resolve(args.model)
    train_path = Path(args.out_train)
    seed = config.seed if args.seed is None else args.seed
    log_path = work_file(train_path, "judgments", ref.path.resolve(), file_digest(Path(args.ranked)), args.temperature, config.judge)
    judge = model_context(ref, config)
    max_train = config.data.oasst.eft_train if args.max_train is None else args.max_train
    train, heldout, stats = ranked_eft.build(rows, judge, log_path, args.heldout_fraction, seed, args.temperature, args.allow_judge_ties, max_train)
    judge.release()
    stats |= {"ranked": args.ranked, "model": str(ref.path), "judge_template": config.judge.template, "judgments": str(log_path)}
    if not train:  # an empty data.eft would only fail later, at `srlm run`
        raise UserError(f"{args.ranked}: no prompt kept for EFT training: the judge's order agreed with people on none of "
                        f"{stats['judged_prompts']} prompts (dropped: {stats['dropped_prompts']}); nothing written")
    stats_path = Path(args.stats or train_path.with_suffix(".stats.json"))
    _write_outputs({train_path: train, **({Path(args.out_heldout): heldout} if args.out_heldout else {})}, stats_path, stats)
    print(f"judged {stats['judged_prompts']} prompts, kept {stats['kept_prompts']}; train {stats['train_prompts']} prompts "
          f"({stats['train_judgments']} judgments), held-out {stats['heldout_prompts']} (not filtered); dropped {stats['dropped_prompts']}")
    _warn(stats["warnings"])
    print(f"written: {', '.join(map(str, [train_path, *([args.out_heldout] if args.out_heldout else []), stats_path]))}")
    return 0


def _write_outputs(files: dict[Path, list[dict]], stats_path: Path, stats: dict) -> None:
    from srlm.data.seed import write_jsonl
    from srlm.runtime.rundir import write_json

    for path, rows in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, rows)
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(stats_path, stats)


def _warn(warnings: list[str]) -> None:
    """A part smaller than asked: said on stderr too, not only in the stats file."""
    for warning in warnings:
        print(f"srlm: warning: {warning} (recorded in the stats)", file=sys.stderr)


def _add_import_oasst(subparsers: Any) -> None:
    oasst = subparsers.add_parser("import-oasst", help="Open Assistant export -> IFT, EFT-train and held-out files, split by tree")
    oasst.add_argument("files", nargs="+", metavar="FILE",
                       help="oasst1 messages or trees export (.jsonl, .jsonl.gz, or the Hugging Face dataset's .parquet); several files = one export (e.g. its train and validation files)")
    oasst.add_argument("--out-dir", required=True, help="folder to write into")
    oasst.add_argument("--lang", default="en", help="language to keep (default en, as SR; 'all' keeps every language)")
    oasst.add_argument("--ift", type=int, default=None, help="IFT conversations (default: config data.oasst.ift, SR 3,200)")
    oasst.add_argument("--eft-heldout", type=int, default=None, help="held-out judge prompts (default: config data.oasst.eft_heldout, SR 531)")
    oasst.add_argument("--seed", type=int, default=None, help="seed of the split by tree (default: config seed)")
    config_arg(oasst)
    oasst.set_defaults(func=_import_oasst)


def _import_oasst(args: argparse.Namespace) -> int:
    from srlm.config import load_config
    from srlm.data.oasst import check_usable, import_oasst
    from srlm.data.oasst_split import split_trees

    config = load_config(args.config)
    sizes = config.data.oasst
    ift = sizes.ift if args.ift is None else args.ift
    heldout = sizes.eft_heldout if args.eft_heldout is None else args.eft_heldout
    if ift < 0 or heldout < 0:
        raise UserError("--ift and --eft-heldout must be >= 0")
    lang = None if args.lang == "all" else args.lang
    result = import_oasst(args.files, lang=lang)
    check_usable(result, lang)
    parts, split = split_trees(result, ift, heldout, config.seed if args.seed is None else args.seed)
    out = Path(args.out_dir)
    names = {"ift": "ift.jsonl", "eft_train": "eft_ranked_train.jsonl", "eft_heldout": "eft_heldout.jsonl"}
    stats = {"source": args.files, "lang": args.lang, "messages": result.messages, "ift_rows": len(result.ift),
             "eft_ranked_prompts": len(result.eft), "eft_ranked_responses": sum(len(r["responses"]) for r in result.eft),
             "dropped": result.dropped, **split, "files": {k: str(out / v) for k, v in names.items()}}
    _write_outputs({out / names[k]: rows for k, rows in parts.items()}, out / "stats.json", stats)
    s = split["split"]
    print(f"{result.messages} messages -> {len(result.ift)} IFT-capable and {len(result.eft)} ranked prompts; dropped {result.dropped}")
    print(f"split ({s['method']}): IFT {s['ift']['got']}, EFT-train pool {s['eft_train_pool']['got']} prompts, "
          f"held-out {s['eft_heldout']['got']}; held-out prompts found in training: {split['overlap']['heldout_prompts_in_training']}")
    _warn(split["warnings"])
    print(f"written: {', '.join(str(out / v) for v in names.values())}, {out / 'stats.json'}")
    return 0
