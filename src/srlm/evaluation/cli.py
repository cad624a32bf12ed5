"""Evaluation commands: ``eval judge``, ``compare``, ``alpaca``, ``build-eft``, ``import-oasst``.

Every command that loads a model takes ``--config FILE`` for the engine (``backend``), dtype,
judge prompt and decoding; with a run directory its frozen config is used, else the defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlm.errors import UserError


def add_commands(subparsers: Any) -> None:
    """Register this module's subcommands on the ``srlm`` parser."""
    _add_eval(subparsers)
    _add_compare(subparsers)
    _add_alpaca(subparsers)
    _add_build_eft(subparsers)
    _add_import_oasst(subparsers)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config for engine, dtype, judge prompt and decoding (default: the run's, else defaults)")


def _judge_args(parser: argparse.ArgumentParser, methods: bool = True) -> None:
    parser.add_argument("--judge", required=True, help="judge: a model dir/name, a run dir, or openai:<model_name>@<base_url>")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the endpoint's API key")
    if methods:
        parser.add_argument("--method", default="pairwise", choices=("pairwise", "additive"),
                            help="pairwise: one prompt shows both answers, judged in both orders (default); additive: score each answer with the 5-point judge")
    parser.add_argument("--judge-max-new-tokens", type=int, default=0, help="token limit of a pairwise judgment (default 256)")


def _sampling_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=float, default=0.0, help="answer sampling temperature (default 0 = greedy)")
    parser.add_argument("--max-new-tokens", type=int, default=0, help="answer token limit (default: candidates.max_new_tokens)")


def _setup(config_file: str | None, run: str | None = None) -> Any:
    from srlm.evaluation.judges import eval_config
    from srlm.modeling import set_threads

    config = eval_config(config_file, run)
    set_threads(config.threads)
    return config


# ---------------------------------------------------------------------------------------------
# srlm eval judge


def _add_eval(subparsers: Any) -> None:
    group = subparsers.add_parser("eval", help="evaluate models (judge metrics)")
    sub = group.add_subparsers(dest="eval_command", required=True)
    judge = sub.add_parser("judge", help="reward-model metrics of a model judging held-out human-ranked responses")
    judge.add_argument("model", metavar="MODEL_OR_RUN", help="model dir/name, or a run dir (its latest complete M<t>)")
    judge.add_argument("--data", help="held-out EFT JSONL with human 'rank' or 'score' (default for a run: data/eft_heldout.jsonl)")
    judge.add_argument("--samples", type=int, default=0, help="judgments per response, averaged (default: eval.judge_samples)")
    judge.add_argument("--max-prompts", type=int, default=0, help="use only the first K prompts")
    judge.add_argument("--all", action="store_true", help="with a run dir: every complete model, not only the latest")
    judge.add_argument("--out", default="judge_eval.json", help="JSON file to write (default: judge_eval.json)")
    _config_arg(judge)
    judge.set_defaults(func=_eval_judge)


def _eval_judge(args: argparse.Namespace) -> int:
    from srlm.evaluation import judge_eval

    config = _setup(args.config, args.model)
    models = judge_eval.targets(args.model, args.all)
    data = Path(args.data) if args.data else judge_eval.default_data(args.model)
    samples = args.samples or config.eval.judge_samples
    if samples < 1 or args.max_prompts < 0:
        raise UserError("--samples must be >= 1 and --max-prompts >= 0")
    report = judge_eval.evaluate_judges(models, data, config, Path(args.out), samples, args.max_prompts)
    judge_eval.print_table(report)
    print(f"written: {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------
# srlm compare


def _add_compare(subparsers: Any) -> None:
    compare = subparsers.add_parser("compare", help="head-to-head win rate of model A vs model B, judged in both orders")
    compare.add_argument("model_a", metavar="A", help="model dir/name or run dir (latest model)")
    compare.add_argument("model_b", metavar="B", help="model dir/name or run dir (latest model)")
    compare.add_argument("--prompts", required=True, help="JSONL with 'prompt' (or 'instruction'), or 'alpaca_eval'")
    compare.add_argument("--max-prompts", type=int, default=0, help="use only the first K prompts")
    compare.add_argument("--out", default="", help="JSON file to write (default: compare-<A>-vs-<B>.json)")
    _judge_args(compare)
    compare.epilog = "--judge A or --judge B makes one of the compared models the judge."
    _sampling_args(compare)
    _config_arg(compare)
    compare.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from srlm.evaluation.compare import answer_sampling, compare_models, load_prompts, print_result
    from srlm.evaluation.judges import resolve
    from srlm.evaluation.pairwise import JudgeSettings

    config = _setup(args.config, args.model_a)
    a, b = resolve(args.model_a), resolve(args.model_b)
    _check_judge(args.judge, ("A", "B"))  # before any answer is generated
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


def _check_judge(spec: str, aliases: tuple[str, ...] = ()) -> None:
    """Refuse a judge spec that cannot work, naming it, before hours of generation."""
    from srlm.evaluation.judges import parse_openai_spec, resolve

    if spec not in aliases and parse_openai_spec(spec) is None:
        resolve(spec)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)


# ---------------------------------------------------------------------------------------------
# srlm alpaca fetch | generate | winrate


def _add_alpaca(subparsers: Any) -> None:
    group = subparsers.add_parser("alpaca", help="AlpacaEval prompts: fetch, generate outputs, local win rate")
    sub = group.add_subparsers(dest="alpaca_command", required=True)
    fetch = sub.add_parser("fetch", help="download the alpaca-eval sdist once and keep its 805 prompts in the cache")
    fetch.set_defaults(func=_alpaca_fetch)
    generate = sub.add_parser("generate", help="write a model's outputs in the format the official alpaca_eval reads")
    generate.add_argument("model", metavar="MODEL", help="model dir/name or run dir (latest model)")
    generate.add_argument("--out", required=True, help="JSON file to write")
    generate.add_argument("--limit", type=int, default=0, help="only the first K instructions")
    generate.add_argument("--name", default="", help="generator name in the file (default: the model's label)")
    _sampling_args(generate)
    _config_arg(generate)
    generate.set_defaults(func=_alpaca_generate)
    winrate = sub.add_parser("winrate", help="local win rate of an outputs file against AlpacaEval's reference outputs")
    winrate.add_argument("outputs", metavar="OUTPUTS", help="file written by 'srlm alpaca generate'")
    winrate.add_argument("--limit", type=int, default=0, help="only the first K outputs")
    winrate.add_argument("--out", default="", help="JSON file to write (default: <OUTPUTS>.winrate.json)")
    _judge_args(winrate)
    _config_arg(winrate)
    winrate.set_defaults(func=_alpaca_winrate)


def _alpaca_fetch(args: argparse.Namespace) -> int:
    from srlm.evaluation.alpaca import fetch_alpaca_eval

    print(fetch_alpaca_eval())
    return 0


def _alpaca_generate(args: argparse.Namespace) -> int:
    from srlm.evaluation.alpaca import alpaca_prompts, official_rows
    from srlm.evaluation.compare import answer_sampling, answers_of
    from srlm.evaluation.judges import resolve
    from srlm.rundir import write_json

    config = _setup(args.config, args.model)
    ref = resolve(args.model)
    prompts = alpaca_prompts()
    prompts = prompts[: args.limit] if args.limit > 0 else prompts
    out = Path(args.out)
    answers = answers_of(ref, config, prompts, answer_sampling(config, args.temperature, args.max_new_tokens), out)
    write_json(out, official_rows(prompts, answers, args.name or ref.label))
    print(f"written: {out} ({len(prompts)} outputs)")
    return 0


def _alpaca_winrate(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from srlm.evaluation.alpaca import load_outputs, pair_with_reference, reference_outputs
    from srlm.evaluation.compare import print_result, rows_out, summary
    from srlm.evaluation.judges import judge_context, work_file
    from srlm.evaluation.pairwise import JudgeSettings, head_to_head_verdicts
    from srlm.rundir import write_json

    config = _setup(args.config)
    _check_judge(args.judge)
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


# ---------------------------------------------------------------------------------------------
# srlm build-eft, srlm import-oasst


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
    _config_arg(build)
    build.set_defaults(func=_build_eft)


def _build_eft(args: argparse.Namespace) -> int:
    from srlm.data.seed import load_eft, write_jsonl
    from srlm.evaluation import ranked_eft
    from srlm.evaluation.alpaca import is_eval_only
    from srlm.evaluation.judges import file_digest, model_context, resolve, work_file
    from srlm.rundir import write_json

    if not 0 <= args.heldout_fraction < 1:
        raise UserError(f"--heldout-fraction: {args.heldout_fraction} must be in [0, 1)")
    if is_eval_only(args.ranked):
        raise UserError(f"{args.ranked}: AlpacaEval data is for evaluation only, never judge training")
    config = _setup(args.config)
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
    from srlm.rundir import write_json

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
