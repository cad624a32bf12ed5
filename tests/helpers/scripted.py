"""Test-only backends: the real tiny model writes prompts and answers; judging is scripted.

A randomly initialised model never writes a parsable ``Score:``, so loop tests script the
judge's text (a deterministic function of the request) while every other stage runs for real.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Sequence

from srlm.backends.base import Conversation, Sampling
from srlm.backends.transformers_backend import TransformersBackend
from srlm.config import Config
from srlm.runtime.models import load_model, load_tokenizer

JUDGE_MARK = "additive 5-point scoring system"  # in the judge template only
META_MARK = "Determine which judgment is more accurate"  # in the meta-judge template only


def scripted_judgment(request: str, sample: int) -> str:
    """A judgment whose score depends only on the request and the sample index."""
    digest = hashlib.sha256(f"{request}|{sample}".encode()).digest()
    if digest[1] % 10 == 0:
        return "The response is hard to assess."  # unparsable: must be dropped and counted
    return f"The response addresses part of the question.\nScore: {digest[0] % 6}"


def varied_judgment(request: str, sample: int) -> str:
    """A judgment of varying length whose score depends only on the request and sample (the
    Meta-Rewarding loop test's judge: judge pairs need judgments of different lengths)."""
    digest = hashlib.sha256(f"{request}|{sample}".encode()).digest()
    return "The response is relevant" + " and on topic" * (digest[1] % 4) + f".\nScore: {digest[0] % 6}"


def scripted_verdict(request: str) -> str:
    """A meta-judge verdict from the request's hash; one in four is unparsable."""
    digest = hashlib.sha256(request.encode()).digest()
    if digest[0] % 4 == 0:
        return "Both judgments have merit."
    return "Judgment {0} follows the rubric better.\nWinner: Judgment {0}".format("AB"[digest[1] % 2])


class ScriptedJudgeBackend:
    """Delegates to a real backend, except that judge requests get scripted judgments."""

    def __init__(self, real: TransformersBackend, judgment: Callable[[str, int], str] = scripted_judgment) -> None:
        self.real = real
        self.judgment = judgment
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)  # tokenizer, encode, logits: the real model's

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        self.calls += 1
        requests = [c[-1]["content"] for c in conversations]
        if all(META_MARK in r for r in requests):
            return [[scripted_verdict(f"{r}|{k}") for k in range(sampling.n)] for r in requests]
        if all(JUDGE_MARK in r and META_MARK not in r for r in requests):
            return [[self.judgment(r, k) for k in range(sampling.n)] for r in requests]
        return self.real.generate(conversations, sampling)


def scripted_factory(model_dir: Path, config: Config) -> ScriptedJudgeBackend:
    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir))
    return ScriptedJudgeBackend(TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size))


def meta_scripted_factory(model_dir: Path, config: Config) -> ScriptedJudgeBackend:
    """Like ``scripted_factory``, with judgments of varying length (``varied_judgment``)."""
    return ScriptedJudgeBackend(scripted_factory(model_dir, config).real, varied_judgment)


def tiny_overrides(model_dir: Path, runs_dir: Path, *extra: str) -> list[str]:
    """Overrides that make a whole run take seconds on the tiny model."""
    return [
        f"model={model_dir}", f"runs_dir={runs_dir}", "name=t", "iterations=2",
        "data.max_ift=16", "sft.batch_size=4", "sft.micro_batch_size=2", "sft.learning_rate=1e-3",
        "prompt_gen.num_prompts=4", "prompt_gen.max_new_tokens=24", "candidates.n=3",
        "candidates.max_new_tokens=12", "judge.samples=3", "judge.max_new_tokens=8",
        "dpo.batch_size=4", "dpo.micro_batch_size=2", "dpo.learning_rate=1e-3", "sft.dropout=0", "dpo.dropout=0",
        "backend.batch_size=4", "eval.max_heldout=2", *extra,
    ]


class Crash(RuntimeError):
    """The failure a test asked for."""


def crashing_factory(after: int, make=scripted_factory):
    """``make``'s backend, failing on its ``after``-th candidate generation."""
    calls = {"n": 0}

    def factory(model_dir, config):
        backend = make(model_dir, config)
        real = backend.generate

        def generate(conversations, sampling):
            if sampling.n == config.candidates.n and "additive" not in conversations[0][-1]["content"]:
                calls["n"] += 1
                if calls["n"] == after:
                    raise Crash(f"rank {os.environ.get('RANK', 0)}: crash asked for by the test")
            return real(conversations, sampling)

        backend.generate = generate
        return backend

    return factory
