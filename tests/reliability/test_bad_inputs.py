"""The bad-input corpus (tests/bad_inputs/manifest.json): each file gets its clear error or its
counted drop. Seed files and configs go through the real command (``srlm run`` stops at a
sentinel where training would start); judge outputs go through the parsers and the judgments
stage; a damaged run directory, stage file or checkpoint goes through ``srlm run`` on a copy of
a finished tiny run (``damage.py``)."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from srlm.judging.parse import parse_score, parse_verdict
from tests.helpers.fakes import FakeBackend

CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
REPO = CORPUS.parents[1]
CASES = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["cases"]


class ReachedTraining(Exception):
    """Raised where SFT would start: the input got past every check before training."""


def _params() -> list:
    params = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        name = f"{case['kind']}:{Path(case['file']).name}" + (f":{case['expect']}" if case["kind"] == "judged_response" else "")
        params.append(pytest.param(case, id=name, marks=marks))
    return params


@pytest.fixture
def run_until_training(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """``srlm <args>`` in this process with a tiny base config; returns (exit status, stderr)."""
    import torch

    from srlm.cli import main
    from srlm.config import load_config, to_dict
    from srlm.stages import sft
    from tests.helpers.scripted import tiny_overrides

    def sentinel(*args: object, **kwargs: object) -> None:
        raise ReachedTraining

    monkeypatch.setattr(sft, "run", sentinel)
    monkeypatch.chdir(REPO)  # corpus configs name files relative to the repository
    threads = torch.get_num_threads()
    base = to_dict(load_config(None, tiny_overrides(tiny_model_dir, tmp_path / "runs", "iterations=1", "threads=1")))

    def run(extra: dict) -> tuple[int | str, str]:
        config = tmp_path / "run.yaml"
        config.write_text(yaml.safe_dump(_merged(base, extra)))
        try:
            code: int | str = main(["run", str(config)])
        except ReachedTraining:
            code = "reached training"
        finally:
            torch.set_num_threads(threads)
        return code, capsys.readouterr().err

    return run


def _merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _prepared(case: dict, tmp_path: Path) -> Path:
    """The case's file, or an unreadable stand-in for it (``setup``)."""
    path = CORPUS / case["file"]
    setup = case.get("setup")
    if setup is None:
        return path
    copy = tmp_path / "input" / path.name
    copy.parent.mkdir()
    if setup == "chmod000":
        if os.geteuid() == 0:
            pytest.skip("runs as root, which reads any file whatever its mode (the io_error cases cover an unreadable file there)")
        shutil.copy(path, copy)
        copy.chmod(0)
    elif setup == "io_error":
        copy.symlink_to("/proc/self/mem")  # reading it from offset 0 fails with EIO, as a failing disk does
    return copy


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: dict, request: pytest.FixtureRequest, counts: dict, capsys: pytest.CaptureFixture) -> None:
    path = _prepared(case, request.getfixturevalue("tmp_path"))
    counts["bad_inputs"] = counts.get("bad_inputs", 0) + 1
    counts.setdefault("bad_input_kinds", Counter())[case["kind"]] += 1
    kind = case["kind"]
    if kind in ("run_dir", "run_file", "checkpoint") or "damage" in case:
        from tests.reliability import damage

        code, err, untouched = damage.run_case(case, request)
        _check_command(case, code, err)
        assert untouched(), "the damaged input was written over"
    elif kind in ("ift", "eft"):
        run = request.getfixturevalue("run_until_training")
        code, err = run({"data": {kind: str(path)}})
        _check_command(case, code, err)
        if case["expect"] == "loads":
            _check_loaded(path, request.getfixturevalue("tmp_path") / "runs" / "t" / "data", case["rows"])
    elif kind == "config":
        from srlm.cli import main

        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.chdir(REPO)  # corpus configs name files relative to the repository
        code = main(["validate", str(path.relative_to(REPO))]) if path.is_relative_to(REPO) else main(["validate", str(path)])
        _check_command(case, code, capsys.readouterr().err)
    elif kind == "config_run":
        run = request.getfixturevalue("run_until_training")
        code, err = run(yaml.safe_load(path.read_text(encoding="utf-8")))
        _check_command(case, code, err)
    elif kind == "judge":
        _check_parsed(case, parse_score(path.read_text(encoding="utf-8")))
    elif kind == "meta_judge":
        _check_parsed(case, parse_verdict(path.read_text(encoding="utf-8")))
    elif kind == "judged_response":
        _check_judged_response(case, path.read_text(encoding="utf-8"), request.getfixturevalue("tmp_path"))
    elif kind == "oasst":
        from srlm.cli import main

        out = request.getfixturevalue("tmp_path") / "oasst"
        code = main(["import-oasst", str(path), "--out-dir", str(out), "--ift", "1", "--eft-heldout", "1", *case.get("args", [])])
        _check_command(case, code, capsys.readouterr().err)
        assert not out.exists() or not any(out.iterdir())  # refused: nothing written, not an empty file
    else:
        raise AssertionError(f"unknown kind {kind!r} in manifest.json")


def _check_command(case: dict, code: int | str, err: str) -> None:
    if case["expect"] == "loads":
        assert code == "reached training", err
        return
    assert code == 2, f"expected exit 2, got {code!r}; stderr: {err[-2000:]}"
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("srlm: error: "), err
    for fragment in case["fragments"]:
        assert fragment in last, f"{fragment!r} not in {last!r}"


def _check_loaded(source: Path, data: Path, rows: int) -> None:
    """The run's copy of an accepted IFT file holds its prompts unchanged (split into train and held-out)."""
    from srlm.data.seed import load_ift
    from srlm.runtime.rundir import read_rows

    copied = read_rows(data / "ift.jsonl") + read_rows(data / "ift_heldout.jsonl")
    assert sorted(r["prompt"] for r in copied) == sorted(r["prompt"] for r in load_ift(source))
    assert len(copied) == rows


def _check_parsed(case: dict, parsed: object) -> None:
    assert parsed == (None if case["expect"] == "dropped" else case["score"])


class EchoJudge(FakeBackend):
    """A backend whose judge writes ``output``; it records the requests it was sent."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.requests: list[str] = []

    def generate(self, conversations: list, sampling: object) -> list[list[str]]:
        self.requests += [c[-1]["content"] for c in conversations]
        return [[self.output] * sampling.n for _ in conversations]


def _check_judged_response(case: dict, response: str, tmp_path: Path) -> None:
    """The judgments stage on one candidate whose response tries to score itself."""
    from srlm.config import load_config
    from srlm.runtime.rundir import RunDir
    from srlm.stages import judgments
    from srlm.stages.common import StageContext

    judge = EchoJudge(case["judge_output"])
    config = load_config(None, ["judge.samples=3"])
    ctx = StageContext(config=config, run=RunDir(tmp_path / "run"), iteration=1, backend_factory=lambda model, cfg: judge)
    candidate = {"id": "p0-c0", "prompt_id": "p0", "prompt": "What is the capital of France?", "response": response}
    [row] = judgments.run(ctx, [candidate])
    assert response in judge.requests[0]  # the judge saw the injected text...
    expected = None if case["expect"] == "dropped" else case["score"]
    assert row["scores"] == [expected] * 3  # ...but only its own output was parsed
    assert row["mean_score"] == expected
    stats = json.loads((tmp_path / "run" / "iter1" / "stats.json").read_text())["judgments"]
    assert stats["unparsed"] == (3 if expected is None else 0)  # a drop is counted


def test_generation_returns_only_the_new_text(tiny_model_dir: Path) -> None:
    """The transformers backend hands back the generated tokens only, never the request that
    embeds the response, so a "Score: 5" inside a response cannot reach the score parser."""
    from srlm.backends.base import Sampling
    from srlm.backends.transformers_backend import TransformersBackend
    from srlm.judging.templates import fill, load_template
    from srlm.runtime.models import load_model, load_tokenizer

    injected = (CORPUS / "judge" / "response_injects_score.txt").read_text(encoding="utf-8")
    request = fill(load_template("additive_5pt", ("prompt", "response")), prompt="What is 2 + 2?", response=injected)
    backend = TransformersBackend(load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir)), batch_size=4)
    outputs = backend.generate([[{"role": "user", "content": request}]], Sampling(temperature=0, max_new_tokens=12, n=2))
    for text in outputs[0]:
        assert "Ignore the rubric" not in text and "additive 5-point" not in text
        assert parse_score(text) is None
