"""``srlm alpaca fetch | generate | winrate``: AlpacaEval prompts, a model's outputs in the
official format, and a local win rate against the reference outputs (``srlm.evaluation.alpaca``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.cli.common import check_judge, config_arg, judge_args, sampling_args, setup


def add_command(subparsers: Any) -> None:
    """Register ``srlm alpaca`` and its subcommands ``fetch``, ``generate`` and ``winrate``."""
    group = subparsers.add_parser("alpaca", help="AlpacaEval prompts: fetch, generate outputs, local win rate")
    sub = group.add_subparsers(dest="alpaca_command", required=True)
    fetch = sub.add_parser("fetch", help="download the alpaca-eval sdist once and keep its 805 prompts in the cache")
    fetch.set_defaults(func=_fetch)
    generate = sub.add_parser("generate", help="write a model's outputs in the format the official alpaca_eval reads")
    generate.add_argument("model", metavar="MODEL", help="model dir/name or run dir (latest model)")
    generate.add_argument("--out", required=True, help="JSON file to write")
    generate.add_argument("--limit", type=int, default=0, help="only the first K instructions")
    generate.add_argument("--name", default="", help="generator name in the file (default: <run>-M<t> for a run's model, else the model's folder name)")
    sampling_args(generate, "answer token limit (default: eval.alpaca_max_new_tokens, 2048, cut to the model's context)")
    config_arg(generate)
    generate.set_defaults(func=_generate)
    winrate = sub.add_parser("winrate", help="local win rate of an outputs file against AlpacaEval's reference outputs")
    winrate.add_argument("outputs", metavar="OUTPUTS", help="file written by 'srlm alpaca generate'")
    winrate.add_argument("--limit", type=int, default=0, help="only the first K outputs")
    winrate.add_argument("--out", default="", help="JSON file to write (default: <OUTPUTS>.winrate.json)")
    judge_args(winrate)
    config_arg(winrate)
    winrate.set_defaults(func=_winrate)


def _fetch(args: argparse.Namespace) -> int:
    from srlm.evaluation.alpaca import fetch_alpaca_eval

    print(fetch_alpaca_eval())
    return 0


def _generate(args: argparse.Namespace) -> int:
    from srlm.evaluation.alpaca import alpaca_prompts, answer_token_limit, generator_name, official_rows
    from srlm.evaluation.compare import answer_sampling, answers_of
    from srlm.evaluation.judges import resolve
    from srlm.runtime.rundir import write_json

    config = setup(args.config, args.model)
    ref = resolve(args.model)
    prompts = alpaca_prompts()
    prompts = prompts[: args.limit] if args.limit > 0 else prompts
    out = Path(args.out)
    limit = answer_token_limit(ref.path, prompts, args.max_new_tokens or config.eval.alpaca_max_new_tokens, config.trust_remote_code)
    answers = answers_of(ref, config, prompts, answer_sampling(config, args.temperature, limit), out)
    write_json(out, official_rows(prompts, answers, args.name or generator_name(ref)))
    print(f"written: {out} ({len(prompts)} outputs)")
    return 0


def _winrate(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from srlm.evaluation.alpaca import load_outputs, pair_with_reference, reference_outputs
    from srlm.evaluation.compare import print_result, rows_out, summary
    from srlm.evaluation.judges import judge_context, work_file
    from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts
    from srlm.runtime.rundir import write_json

    config = setup(args.config)
    check_judge(args.judge)
    outputs = load_outputs(args.outputs)
    outputs = outputs[: args.limit] if args.limit > 0 else outputs
    items = pair_with_reference(outputs, reference_outputs(), args.outputs)
    out = Path(args.out or Path(args.outputs).with_suffix(".winrate.json"))
    settings = JudgeSettings.from_config(config, args.method, args.judge_max_new_tokens)
    judge = judge_context(args.judge, config, args.api_key_env)
    log_path = work_file(out, f"judgments-{settings.method}", args.judge, dataclasses.asdict(settings), settings.template_text(), json.dumps(items))
    ab, ba, details = head_to_head_verdicts(judge, items, settings, log_path, f"{judge.label} judging")
    generator = outputs[0].get("generator", "model") if outputs else "model"
    result = summary(str(generator), "alpaca_eval reference", judge.label, settings, ab, ba, config.seed)
    result |= {"outputs": str(args.outputs), "n_prompts": len(items), "mean_output_chars": _mean_chars(items, "answer_a"),
               "mean_reference_chars": _mean_chars(items, "answer_b"), "rows": rows_out(items, ab, ba, details)}
    write_json(out, result)
    print_result(result)
    print(f"written: {out}")
    return 0


def _mean_chars(items: list[dict], key: str) -> float | None:
    return round(sum(len(i[key]) for i in items) / len(items), 1) if items else None
