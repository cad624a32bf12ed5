"""Argument helpers and set-up shared by the commands that load a model or a judge.

Every such command takes ``--config FILE`` for the engine (``backend``), dtype, judge prompt and
decoding; with a run directory its frozen config is used, else the defaults (``setup``).
"""

from __future__ import annotations

import argparse
from typing import Any


def config_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``: the YAML config for engine, dtype, judge prompt and decoding."""
    parser.add_argument("--config", help="YAML config for engine, dtype, judge prompt and decoding (default: the run's, else defaults)")


def judge_args(parser: argparse.ArgumentParser, methods: bool = True) -> None:
    """Add ``--judge``, ``--api-key-env``, ``--judge-max-new-tokens`` and (with ``methods``) ``--method``."""
    parser.add_argument("--judge", required=True, help="judge: a model dir/name, a run dir, openai:<model_name>@<base_url>, reward_model:<model> or function:<package.module:function> (the last two with --method additive; a function reads the prompts' 'reference' field)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the endpoint's API key")
    if methods:
        parser.add_argument("--method", default="pairwise", choices=("pairwise", "additive"),
                            help="pairwise: one prompt shows both answers, judged in both orders (default); additive: score each answer with the 5-point judge")
    parser.add_argument("--judge-max-new-tokens", type=int, default=0, help="token limit of a pairwise judgment (default 256)")


def sampling_args(parser: argparse.ArgumentParser, limit_help: str = "answer token limit (default: candidates.max_new_tokens)") -> None:
    """Add ``--temperature`` and ``--max-new-tokens`` for the answers a model writes."""
    parser.add_argument("--temperature", type=float, default=0.0, help="answer sampling temperature (default 0 = greedy)")
    parser.add_argument("--max-new-tokens", type=int, default=0, help=limit_help)


def setup(config_file: str | None, run: str | None = None) -> Any:
    """The config to evaluate with (the run's, the file's or the defaults), with its thread count set."""
    from srlm.evaluation.judges import eval_config
    from srlm.runtime.resources import set_threads

    config = eval_config(config_file, run)
    set_threads(config.threads)
    return config


def check_judge(spec: str, aliases: tuple[str, ...] = ()) -> None:
    """Refuse a judge spec that cannot work, naming it, before hours of generation."""
    from srlm.evaluation.judges import parse_openai_spec, resolve
    from srlm.judging.kinds import check_spec, split_judge_spec

    kind, name = split_judge_spec(spec)
    if kind in ("function", "reward_model"):
        check_spec(kind, name, "--judge")
    elif spec not in aliases and parse_openai_spec(spec) is None:
        resolve(spec)

