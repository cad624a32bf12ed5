"""``srlm eval judge MODEL_OR_RUN``: reward-model metrics of a model judging held-out
human-ranked responses (``srlm.evaluation.judge_eval``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.cli.common import config_arg, setup
from srlm.errors import UserError


def add_command(subparsers: Any) -> None:
    """Register ``srlm eval`` and its one subcommand, ``judge``."""
    group = subparsers.add_parser("eval", help="evaluate models (judge metrics)")
    sub = group.add_subparsers(dest="eval_command", required=True)
    judge = sub.add_parser("judge", help="reward-model metrics of a model judging held-out human-ranked responses")
    judge.add_argument("model", metavar="MODEL_OR_RUN", help="model dir/name, or a run dir (its latest complete M<t>)")
    judge.add_argument("--data", help="held-out EFT JSONL with human 'rank' or 'score' (default for a run: data/eft_heldout.jsonl)")
    judge.add_argument("--samples", type=int, default=0, help="judgments per response, averaged (default: eval.judge_samples)")
    judge.add_argument("--max-prompts", type=int, default=0, help="use only the first K prompts")
    judge.add_argument("--all", action="store_true", help="with a run dir: every complete model, not only the latest")
    judge.add_argument("--out", default="judge_eval.json", help="JSON file to write (default: judge_eval.json)")
    config_arg(judge)
    judge.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm.evaluation import judge_eval

    config = setup(args.config, args.model)
    models = judge_eval.targets(args.model, args.all)
    data = Path(args.data) if args.data else judge_eval.default_data(args.model)
    samples = args.samples or config.eval.judge_samples
    if samples < 1 or args.max_prompts < 0:
        raise UserError("--samples must be >= 1 and --max-prompts >= 0")
    report = judge_eval.evaluate_judges(models, data, config, Path(args.out), samples, args.max_prompts)
    judge_eval.print_table(report)
    print(f"written: {args.out}")
    return 0
