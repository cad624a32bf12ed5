"""``srlm compare A B``: head-to-head win rate of model A vs model B, judged in both orders
(``srlm.evaluation.compare``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.cli.common import check_judge, config_arg, judge_args, sampling_args, setup


def add_command(subparsers: Any) -> None:
    """Register ``srlm compare``."""
    compare = subparsers.add_parser("compare", help="head-to-head win rate of model A vs model B, judged in both orders")
    compare.add_argument("model_a", metavar="A", help="model dir/name or run dir (latest model)")
    compare.add_argument("model_b", metavar="B", help="model dir/name or run dir (latest model)")
    compare.add_argument("--prompts", required=True, help="JSONL with 'prompt' (or 'instruction'), or 'alpaca_eval'")
    compare.add_argument("--max-prompts", type=int, default=0, help="use only the first K prompts")
    compare.add_argument("--out", default="", help="JSON file to write (default: compare-<A>-vs-<B>.json)")
    judge_args(compare)
    compare.epilog = "--judge A or --judge B makes one of the compared models the judge."
    sampling_args(compare)
    config_arg(compare)
    compare.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm.evaluation.compare import answer_sampling, compare_models, load_prompts, print_result
    from srlm.evaluation.judges import resolve
    from srlm.judging.pairwise import JudgeSettings

    config = setup(args.config, args.model_a)
    a, b = resolve(args.model_a), resolve(args.model_b)
    check_judge(args.judge, ("A", "B"))  # before any answer is generated
    if a.label == b.label:
        a, b = type(a)(f"A:{a.label}", a.path, a.spec), type(b)(f"B:{b.label}", b.path, b.spec)
    prompts = load_prompts(args.prompts, args.max_prompts)
    out = Path(args.out or f"compare-{_safe(a.label)}-vs-{_safe(b.label)}.json")
    settings = JudgeSettings.from_config(config, args.method, args.judge_max_new_tokens)
    sampling = answer_sampling(config, args.temperature, args.max_new_tokens)
    result = compare_models(a, b, args.judge, prompts, config, out, settings, sampling, args.api_key_env)
    print_result(result)
    print(f"written: {out}")
    return 0


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
