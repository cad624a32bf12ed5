"""``judge.kind`` model, reward_model and openai through the judgments stage, with tiny models
made in the test and a loopback HTTP server: the same rows as ``self``, from the fixed judge."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from srlm.config import load_config
from srlm.runtime.rundir import RunDir
from srlm.stages import judgments
from srlm.stages.common import StageContext
from tests.helpers.fakes import FakeBackend
from tests.helpers.loopback import reply_json

CANDIDATES = [
    {"id": f"p{p}-c{c}", "prompt_id": f"p{p}", "prompt": f"Explain item {p}.", "response": f"Item {p} is {'good ' * (c + 1)}."}
    for p in range(2)
    for c in range(2)
]


class NotMe(FakeBackend):
    """M(t): a fixed judge must be asked instead."""

    def generate(self, conversations, sampling):  # type: ignore[no-untyped-def]
        raise AssertionError("M(t) judged although judge.kind names another judge")


def context(tmp_path: Path, factory, *overrides: str) -> StageContext:  # type: ignore[no-untyped-def]
    config = load_config(None, ["judge.scoring=text", "judge.samples=2", "judge.max_new_tokens=8", "backend.batch_size=4", *overrides])
    return StageContext(config=config, run=RunDir(tmp_path / "run"), iteration=1, backend_factory=factory)


def test_model_kind_judges_with_the_fixed_model_and_writes_self_shaped_rows(tmp_path: Path, tiny_model_dir: Path) -> None:
    from srlm.backends import make_backend

    loaded: list[Path] = []

    def factory(path: Path, config):  # type: ignore[no-untyped-def]
        if Path(path) != tiny_model_dir:
            return NotMe()
        loaded.append(Path(path))
        return make_backend(path, config)

    ctx = context(tmp_path, factory, "judge.kind=model", f"judge.spec={tiny_model_dir}")
    rows = judgments.run(ctx, CANDIDATES)
    assert loaded == [tiny_model_dir]  # loaded once, for the whole stage
    assert [r["id"] for r in rows] == [c["id"] for c in CANDIDATES]
    assert all(len(r["judgments"]) == 2 and len(r["scores"]) == 2 for r in rows)  # judge.samples texts, as self writes
    stats = json.loads((tmp_path / "run" / "iter1" / "stats.json").read_text())["judgments"]
    assert stats["judgments"] == 8 and stats["judge"] == f"model:{tiny_model_dir}"


@pytest.fixture(scope="module")
def tiny_reward_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer LlamaForSequenceClassification with one output and the tiny tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    target = tmp_path_factory.mktemp("tiny-rm") / "rm"
    config = LlamaConfig.from_pretrained(tiny_model_dir)
    config.num_labels = 1
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(target)
    return target


def test_reward_model_kind_scores_each_candidate_by_five_sigmoid_reward(tmp_path: Path, tiny_reward_model: Path) -> None:
    from srlm.backends.reward_model import RewardModel

    ctx = context(tmp_path, lambda p, c: NotMe(), "judge.kind=reward_model", f"judge.spec={tiny_reward_model}")
    rows = judgments.run(ctx, CANDIDATES)
    raw = RewardModel(tiny_reward_model).rewards([(c["prompt"], c["response"]) for c in CANDIDATES])
    assert [r["mean_score"] for r in rows] == pytest.approx([5 / (1 + math.exp(-r)) for r in raw], abs=1e-5)
    assert len(set(round(r, 6) for r in raw)) == 4  # the responses differ, so do their rewards
    assert all(r["judgments"] == [] and len(r["scores"]) == 1 for r in rows)


def test_a_causal_lm_is_refused_as_reward_model_at_validate_time(tiny_model_dir: Path) -> None:
    from srlm.errors import UserError
    from srlm.pipeline import preflight

    config = load_config(None, ["judge.scoring=text", "judge.kind=reward_model", f"judge.spec={tiny_model_dir}", f"model={tiny_model_dir}"])
    with pytest.raises(UserError, match="LlamaForCausalLM, not a sequence-classification reward model"):
        preflight(config)


class Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint whose every judgment ends with ``Score: 4``."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)  # type: ignore[attr-defined]
        choices = [{"index": i, "message": {"role": "assistant", "content": "Relevant.\nScore: 4"}, "finish_reason": "stop"} for i in range(body.get("n", 1))]
        reply_json(self, {"choices": choices})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_openai_kind_judges_through_the_endpoint_with_the_judge_prompt(tmp_path: Path, endpoint: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    url = f"http://127.0.0.1:{endpoint.server_address[1]}/v1"
    ctx = context(tmp_path, lambda p, c: NotMe(), "judge.kind=openai", f"judge.spec=openai:judge-model@{url}")
    rows = judgments.run(ctx, CANDIDATES)
    assert all(r["scores"] == [4, 4] and r["mean_score"] == 4 for r in rows)
    requests = endpoint.requests  # type: ignore[attr-defined]
    assert {r["model"] for r in requests} == {"judge-model"}
    assert "additive 5-point scoring system" in requests[0]["messages"][-1]["content"]
