"""Two processes (torchrun, gloo on CPU) write the same stage files as one process, and resume.

Each run is tests/helpers/multiprocess_runner.py under ``python -m torch.distributed.run``: the scripted
judge cannot be handed to another process, so every process builds it itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from srlm.runtime.rundir import RunDir, read_rows
from tests.helpers.scripted import scripted_factory, tiny_overrides

pytestmark = pytest.mark.multiprocess

ROOT = Path(__file__).resolve().parents[2]  # ``-m tests.helpers.multiprocess_runner`` imports from here
# SFT off: M1 = M0 in both runs, so generation starts from the same weights (SFT in two
# processes sees another data order). One thread per process: the same float arithmetic.
# Two held-out prompts for the M2-vs-M1 win rate: its answers and judgments are sharded too.
EXTRA = ("iterations=1", "sft.enabled=false", "threads=1", "eval.win_rate_prompts=2")
STAGE_FILES = ("prompts_raw.jsonl", "prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "pairs.jsonl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


META = ("method=meta_rewarding", "meta.judge_pairs_iterations=[1]")


def _torchrun(model_dir: Path, runs: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "tests.helpers.multiprocess_runner", str(model_dir), str(runs), *EXTRA, *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))), **(env or {})})


def _one_process(model_dir: Path, runs: Path, *extra: str, factory=scripted_factory) -> RunDir:
    return pipeline.run(load_config(None, tiny_overrides(model_dir, runs, *EXTRA, *extra)), backend_factory=factory)


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """The same run in one process."""
    return _one_process(tiny_model_dir, tmp_path_factory.mktemp("one-process"))


def _assert_same_stage_files(run: RunDir, reference: RunDir) -> None:
    for name in STAGE_FILES:
        assert read_rows(run.iteration(1) / name) == read_rows(reference.iteration(1) / name), name
    for name in ("eval_judgments.jsonl", "win_rate_answers.jsonl"):
        assert read_rows(run.model_dir(1) / name) == read_rows(reference.model_dir(1) / name), name


def test_two_processes_write_the_files_of_one(tiny_model_dir: Path, tmp_path: Path, reference: RunDir) -> None:
    from transformers import AutoModelForCausalLM

    result = _torchrun(tiny_model_dir, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    run = RunDir(tmp_path / "t")
    _assert_same_stage_files(run, reference)
    leftovers = [p.name for p in run.root.rglob("*") if p.name.endswith((".partial", ".tmp", ".gathered")) or p.name == "run.lock"]
    assert leftovers == []
    train = json.loads((run.model_dir(2) / "train.json").read_text())
    assert train["processes"] == 2 and train["pairs"] == len(read_rows(run.iteration(1) / "pairs.jsonl"))
    trained = AutoModelForCausalLM.from_pretrained(run.model(2))
    start = AutoModelForCausalLM.from_pretrained(run.model(1))
    assert trained.num_parameters() == start.num_parameters()
    evaluated = json.loads(run.eval(2).read_text())
    assert evaluated["model"] == "M2" and evaluated["win_rate_vs_M1"]["prompts"] == 2


def test_a_crashed_two_process_run_resumes_in_one_process(tiny_model_dir: Path, tmp_path: Path, reference: RunDir) -> None:
    """Rank 1 fails in the middle of candidates; one process finishes the run from both ranks' rows."""
    crashed = _torchrun(tiny_model_dir, tmp_path, env={"SRLM_TEST_CRASH_RANK": "1", "SRLM_TEST_CRASH_AFTER": "2"})
    assert crashed.returncode != 0 and "crash asked for by the test" in crashed.stderr, crashed.stderr[-4000:]
    folder = tmp_path / "t" / "iter1"
    assert not (folder / "candidates.jsonl").exists()
    rank1 = read_rows(folder / "candidates.jsonl.rank1.partial")
    assert len(rank1) == 3  # its first chunk (one prompt, three samples); the second failed
    run = _one_process(tiny_model_dir, tmp_path)
    _assert_same_stage_files(run, reference)
    assert not list(folder.glob("*.partial"))


def test_meta_rewarding_in_two_processes_matches_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The meta-judge's comparisons are sharded too; judge pairs are ranked once, by the main process."""
    from tests.helpers.scripted import meta_scripted_factory as scripted_judges_factory

    one = _one_process(tiny_model_dir, tmp_path / "one", *META, factory=scripted_judges_factory)
    result = _torchrun(tiny_model_dir, tmp_path / "two", *META, env={"SRLM_TEST_JUDGES": "meta"})
    assert result.returncode == 0, result.stderr[-4000:]
    two = RunDir(tmp_path / "two" / "t")
    for name in (*STAGE_FILES, "meta_judgments.jsonl", "judge_pairs.jsonl"):
        assert read_rows(two.iteration(1) / name) == read_rows(one.iteration(1) / name), name
    judge_pairs = len(read_rows(two.iteration(1) / "judge_pairs.jsonl"))
    assert judge_pairs > 0
    assert json.loads((two.model_dir(2) / "train.json").read_text())["rows_by_kind"]["judge"] == judge_pairs
