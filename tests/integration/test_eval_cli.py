"""Evaluation commands end to end on tiny random models; only the judge's text is scripted.

The real tiny model writes every answer; judge requests (additive and pairwise) get scripted
text, since a random model never writes a parsable score or verdict. Commands run in-process
through ``srlm.cli.main`` so the backend factory can be swapped.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from srlm.backends.transformers_backend import TransformersBackend
from srlm.cli import main
from srlm.config import load_config, to_dict
from srlm.data.seed import load_eft, load_ift
from srlm.evaluation import alpaca, judges, win_rate
from srlm.report.files import read_run
from srlm.report.render import Section, render_markdown
from srlm.report.sections_judge import win_rate_entries
from srlm.report.sections_texts import answers
from srlm.runtime.models import load_model, load_tokenizer
from srlm.runtime.rundir import RunDir, mark_model_done, read_json, write_rows, write_yaml
from srlm.stages.common import StageContext
from tests.helpers.loopback import reply_json
from tests.helpers.scripted import ScriptedJudgeBackend
from tests.helpers.tiny_model import build_tiny_model

PAIRWISE_MARK = "You are comparing two AI assistant responses"
FIXTURES = Path(__file__).parent.parent / "fixtures"


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def longer_wins(request: str) -> str:
    """A consistent pairwise judge: the longer response wins; equal length names no winner."""
    a = _between(request, "[Response A]\n", "\n[End of Response A]")
    b = _between(request, "[Response B]\n", "\n[End of Response B]")
    if len(a) == len(b):
        return "They are equally good."
    return f"The longer one is more complete.\nWinner: Response {'A' if len(a) > len(b) else 'B'}"


class EvalJudge(ScriptedJudgeBackend):
    """Scripted additive judgments (tests/helpers/scripted.py) plus scripted pairwise verdicts."""

    def generate(self, conversations, sampling):
        requests = [c[-1]["content"] for c in conversations]
        if all(PAIRWISE_MARK in r for r in requests):
            self.calls += 1
            return [[longer_wins(r)] * sampling.n for r in requests]
        return super().generate(conversations, sampling)


CALLS: list[Path] = []


def eval_factory(model_dir: Path, config) -> EvalJudge:
    CALLS.append(Path(model_dir))
    real = TransformersBackend(load_model(str(model_dir)), load_tokenizer(str(model_dir)), batch_size=config.backend.batch_size)
    return EvalJudge(real)


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(judges, "BACKEND_FACTORY", eval_factory)
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    CALLS.clear()


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model with other random weights (different answers)."""
    return build_tiny_model(tmp_path_factory.mktemp("other") / "model", seed=1)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text("candidates:\n  max_new_tokens: 10\njudge:\n  max_new_tokens: 8\nbackend:\n  batch_size: 8\neval:\n  alpaca_max_new_tokens: 10\n")
    return path


def heldout_file(path: Path, n: int = 3) -> Path:
    rows = [{"id": f"h{i}", "prompt": f"Question {i}?", "responses": [{"text": f"answer {k} to {i}", "rank": k} for k in range(3)]} for i in range(n)]
    write_rows(path, rows)
    return path


def prompts_file(path: Path, n: int = 4) -> Path:
    write_rows(path, [{"prompt": f"Write about topic {i}."} for i in range(n)])
    return path


def test_eval_judge_on_a_model(tiny_model_dir: Path, tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture) -> None:
    data = heldout_file(tmp_path / "heldout.jsonl")
    args = ["eval", "judge", str(tiny_model_dir), "--data", str(data), "--samples", "2", "--out", "j.json", "--config", str(config_file)]
    assert main(args) == 0
    report = read_json(tmp_path / "j.json")
    assert report["heldout_prompts"] == 3 and report["judge_samples"] == 2
    [result] = report["results"]
    metrics = result["judge"]
    assert metrics["n_groups"] == 3 and metrics["n_responses"] == 9
    judged = [json.loads(line) for line in Path(result["judgments"]).read_text().splitlines()]
    assert len(judged) == 9 and all(len(row["judgments"]) == 2 for row in judged)
    assert metrics["n_unparsed"] == sum(row["mean_score"] is None for row in judged)
    header = capsys.readouterr().out.splitlines()[1]
    assert header.split()[1:5] == ["pairwise", "untied", "ties", "½"]  # strict first, the papers' reading
    CALLS.clear()
    assert main(args) == 0 and read_json(tmp_path / "j.json")["results"][0]["judge"] == metrics
    assert CALLS == []  # finished judgments are reused; the model is never loaded


def fake_run(root: Path, model: Path, ts: tuple[int, ...] = (1, 2)) -> RunDir:
    """A run directory with complete checkpoints (copies of the tiny model) and held-out data."""
    run = RunDir(root)
    config = load_config(None, ["candidates.max_new_tokens=10", "judge.max_new_tokens=8", "backend.batch_size=8", "eval.win_rate_prompts=3"])
    write_yaml(run.config, to_dict(config))
    for t in ts:
        shutil.copytree(model, run.model(t))
        mark_model_done(run.model(t))
    heldout_file(run.data / "eft_heldout.jsonl", n=2)
    write_rows(run.data / "ift_heldout.jsonl", [{"id": f"i{k}", "prompt": f"Explain idea {k}.", "response": "x"} for k in range(4)])
    return run


def test_eval_judge_on_a_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", tiny_model_dir)
    shutil.copytree(tiny_model_dir, run.model(3))  # an incomplete M3 is not evaluated
    assert main(["eval", "judge", str(run.root), "--out", "latest.json"]) == 0
    assert [r["model"] for r in read_json(tmp_path / "latest.json")["results"]] == ["M2"]
    assert main(["eval", "judge", str(run.root), "--all", "--max-prompts", "1", "--out", "all.json"]) == 0
    report = read_json(tmp_path / "all.json")
    assert [r["model"] for r in report["results"]] == ["M1", "M2"]
    assert report["heldout_prompts"] == 1 and report["data"].endswith("data/eft_heldout.jsonl")


class Verdicts(BaseHTTPRequestHandler):
    """An OpenAI-compatible judge that always prefers the response shown first."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((body, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        answer = {"choices": [{"message": {"role": "assistant", "content": "Winner: Response A"}}]}
        reply_json(self, answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_judge() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Verdicts)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_compare_two_models_with_three_judges(tiny_model_dir: Path, other_model: Path, tmp_path: Path, config_file: Path,
                                              http_judge: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = prompts_file(tmp_path / "p.jsonl")
    # Sampled: a random tiny model's greedy answer is empty (it ends its turn at once).
    common = ["compare", str(tiny_model_dir), str(other_model), "--prompts", str(prompts), "--out", "c.json",
              "--config", str(config_file), "--max-prompts", "3", "--temperature", "0.8"]
    # 1. Model A judges, pairwise, in both orders.
    assert main([*common, "--judge", "A"]) == 0
    result = read_json(tmp_path / "c.json")
    r = result["result"]
    assert r["n"] == 3 == len(result["rows"]) and r["wins"] + r["ties"] + r["losses"] == 3
    for row in result["rows"]:
        a, b = len(row["answer_a"]), len(row["answer_b"])
        assert row["answer_a"] and row["outcome"] == ("win" if a > b else "loss" if b > a else "tie")
        assert row["verdict_a_first"] == row["verdict_b_first"]  # the scripted judge is consistent
    assert result["method"] == "pairwise" and result["judge"] == tiny_model_dir.parent.name
    assert result["answer_sampling"]["temperature"] == 0.8 and result["answer_sampling"]["max_new_tokens"] == 10
    answers = [(row["answer_a"], row["answer_b"]) for row in result["rows"]]
    # 2. The other model judges with the additive prompt; the answers are reused, not regenerated.
    CALLS.clear()
    assert main([*common, "--judge", str(other_model), "--method", "additive"]) == 0
    assert CALLS == [other_model]
    result = read_json(tmp_path / "c.json")
    assert [(row["answer_a"], row["answer_b"]) for row in result["rows"]] == answers
    for row in result["rows"]:
        a, b = row["score_a"], row["score_b"]
        assert row["outcome"] == ("tie" if a is None or b is None or a == b else "win" if a > b else "loss")
    # 3. An OpenAI-compatible endpoint that always prefers the first response: only ties.
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test")
    url = f"http://127.0.0.1:{http_judge.server_address[1]}/v1"
    assert main([*common, "--judge", f"openai:judge-model@{url}", "--api-key-env", "MY_JUDGE_KEY"]) == 0
    result = read_json(tmp_path / "c.json")
    assert result["result"]["ties"] == 3 and result["judge"] == "openai:judge-model"
    assert len(http_judge.seen) == 6  # type: ignore[attr-defined]
    body, auth = http_judge.seen[0]  # type: ignore[attr-defined]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0 and auth == "Bearer sk-test"
    assert "sk-test" not in (tmp_path / "c.json").read_text()


def test_alpaca_generate_and_winrate(tiny_model_dir: Path, tmp_path: Path, config_file: Path) -> None:
    reference = [{"instruction": f"Instruction {i}?", "output": "ref " * i, "generator": "example", "dataset": "oasst"} for i in range(4)]
    alpaca.reference_path().parent.mkdir(parents=True)
    alpaca.reference_path().write_text(json.dumps(reference))  # as fetch_alpaca_eval leaves it
    assert main(["alpaca", "generate", str(tiny_model_dir), "--out", "outs.json", "--limit", "3", "--name", "tiny",
                 "--config", str(config_file), "--temperature", "0.8"]) == 0
    outputs = json.loads((tmp_path / "outs.json").read_text())
    assert [set(o) for o in outputs] == [{"instruction", "output", "generator", "dataset"}] * 3
    assert [o["instruction"] for o in outputs] == [r["instruction"] for r in reference[:3]] and outputs[0]["generator"] == "tiny"
    assert main(["alpaca", "winrate", "outs.json", "--judge", str(tiny_model_dir), "--config", str(config_file)]) == 0
    result = read_json(tmp_path / "outs.winrate.json")
    assert result["model_a"] == "tiny" and result["model_b"] == "alpaca_eval reference" and result["n_prompts"] == 3
    for row, out, ref in zip(result["rows"], outputs, reference):
        assert (row["answer_a"], row["answer_b"]) == (out["output"], ref["output"])
        a, b = len(out["output"]), len(ref["output"])
        assert row["outcome"] == ("win" if a > b else "loss" if b > a else "tie")


def test_import_oasst_splits_the_small_fixture_without_overlap(tmp_path: Path) -> None:
    """Before the split by tree, one of this fixture's two ranked prompts was also an IFT row."""
    assert main(["import-oasst", str(FIXTURES / "oasst_small.jsonl"), "--out-dir", "oasst", "--ift", "1", "--eft-heldout", "1"]) == 0
    stats = read_json(tmp_path / "oasst" / "stats.json")
    ift = load_ift(tmp_path / "oasst" / "ift.jsonl")
    train, heldout = (load_eft(tmp_path / "oasst" / f"{name}.jsonl") for name in ("eft_ranked_train", "eft_heldout"))
    assert (len(ift), len(train), len(heldout)) == (1, 1, 1) == (stats["split"]["ift"]["got"], stats["split"]["eft_train_pool"]["got"], stats["split"]["eft_heldout"]["got"])
    assert {r["prompt"] for r in heldout}.isdisjoint(r["prompt"] for r in ift + train)
    assert stats["overlap"]["heldout_prompts_in_training"] == 0 and stats["ift_rows"] == 2 and stats["eft_ranked_prompts"] == 2


def test_win_rate_hook_adds_to_eval_json(tiny_model_dir: Path, other_model: Path, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", tiny_model_dir, ts=(1,))
    shutil.copytree(other_model, run.model(2))
    config = load_config(None, ["candidates.max_new_tokens=10", "backend.batch_size=8", "eval.win_rate_prompts=3"])
    seeds = {"ift_heldout": [json.loads(line) for line in (run.data / "ift_heldout.jsonl").read_text().splitlines()]}
    (run.eval(2)).write_text(json.dumps({"model": "M2", "judge": {"pairwise_accuracy": 0.5}}))
    ctx = StageContext(config=config, run=run, iteration=2, backend_factory=eval_factory)
    result = win_rate.update_eval(ctx, seeds)
    saved = read_json(run.eval(2))
    assert saved["judge"] == {"pairwise_accuracy": 0.5} and saved["win_rate_vs_M1"] == result
    assert win_rate_entries(saved) == [("vs M1", result)]  # the report finds it
    assert result["model_a"] == "M2" and result["model_b"] == "M1" and result["judge"] == "M1" and result["prompts"] == 3
    mine = [json.loads(line) for line in (run.model_dir(2) / "win_rate_answers.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (run.model_dir(1) / "win_rate_answers.jsonl").read_text().splitlines()]
    wins = sum(len(a["answer"]) > len(b["answer"]) for a, b in zip(mine, theirs))
    assert result["wins"] == wins and result["wins"] + result["ties"] + result["losses"] == 3
    # The report reads these files as the hook wrote them: its per-prompt outcomes add up to the result.
    shown = render_markdown("t", [Section("answers", "a", answers(read_run(run.root)))], "img")
    assert [shown.count(f"**M2**: vs M1: {o} (verdicts") for o in ("win", "tie", "loss")] == [result[k] for k in ("wins", "ties", "losses")]
    assert shown.count("**M1**: the reference") == 3 and shown.count("'s answer shown first**: verdict") == 6
    assert win_rate.update_eval(ctx, seeds) is None  # once only
    assert win_rate.update_eval(StageContext(config=config, run=run, iteration=1, backend_factory=eval_factory), seeds) is None
    off = load_config(None, ["eval.win_rate_prompts=0"])
    assert win_rate.update_eval(StageContext(config=off, run=run, iteration=3, backend_factory=eval_factory), seeds) is None


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["eval", "judge", "MODEL"], "give --data FILE"),
        (["eval", "judge", "MODEL", "--data", "missing.jsonl"], "missing.jsonl: file not found"),
        (["eval", "judge", "MODEL", "--all", "--data", "x"], "--all: "),
        (["compare", "MODEL", "MODEL", "--prompts", "none.jsonl", "--judge", "A"], "none.jsonl: file not found"),
        (["compare", "MODEL", "nope/dir", "--prompts", "none.jsonl", "--judge", "A"], "nope/dir"),
        (["compare", "MODEL", "MODEL", "--prompts", "p.jsonl", "--judge", "openai:x"], "openai:<model_name>@<base_url>"),
        (["build-eft", "--ranked", "r.jsonl", "--model", "MODEL", "--out-train", "a", "--out-heldout", "b", "--heldout-fraction", "1"], "--heldout-fraction"),
        (["build-eft", "--ranked", "r.jsonl", "--model", "MODEL", "--out-train", "a", "--out-heldout", "b"], "--out-heldout and --heldout-fraction > 0 go together"),
        (["alpaca", "winrate", "none.json", "--judge", "MODEL"], "none.json: file not found"),
    ],
)
def test_user_errors(tiny_model_dir: Path, tmp_path: Path, args: list[str], fragment: str, capsys: pytest.CaptureFixture) -> None:
    prompts_file(tmp_path / "p.jsonl", n=1)
    args = [str(tiny_model_dir) if a == "MODEL" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlm: error:") and fragment in err, err
