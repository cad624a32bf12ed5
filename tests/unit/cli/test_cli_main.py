"""Bad input through the real command: one clear line naming file/line/key, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def srlm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRLM_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "srlm", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"runs_dir: {tmp_path / 'runs'}\n" + text)
    return path


def _assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("srlm: error:")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    _assert_user_error(srlm("run", "nope.yaml", cwd=tmp_path), "nope.yaml", "not found")


def test_unknown_key(tmp_path: Path) -> None:
    _assert_user_error(srlm("validate", str(_config(tmp_path, "dpo:\n  bta: 1\n")), cwd=tmp_path), "dpo.bta")


def test_model_that_does_not_exist(tmp_path: Path) -> None:
    result = srlm("run", str(_config(tmp_path, "model: ./no/such/model\n")), cwd=tmp_path)
    _assert_user_error(result, "no/such/model")
    assert not (tmp_path / "runs").exists()  # nothing written


def test_hub_name_not_in_cache(tmp_path: Path) -> None:
    env_result = srlm("run", str(_config(tmp_path, "model: someone/not-cached-model\n")), cwd=tmp_path)
    _assert_user_error(env_result, "someone/not-cached-model", "never downloads")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": \n', ["ift.jsonl:2"]),
        ('{"prompt": "a"}\n', ["ift.jsonl:1", "response"]),
        ('{"prompt": "   ", "response": "b"}\n', ["ift.jsonl:1", "prompt"]),
        ('{"prompt": 3, "response": "b"}\n', ["ift.jsonl:1", "prompt"]),
    ],
    ids=["broken-json", "missing-field", "empty-text", "wrong-type"],
)
def test_bad_seed_file(tmp_path: Path, tiny_model_dir: Path, content: str, fragments: list[str]) -> None:
    (tmp_path / "ift.jsonl").write_text(content)
    config = _config(tmp_path, f"model: {tiny_model_dir}\ndata:\n  ift: {tmp_path / 'ift.jsonl'}\n")
    _assert_user_error(srlm("run", str(config), cwd=tmp_path), *fragments)


def test_status_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    _assert_user_error(srlm("status", str(tmp_path), cwd=tmp_path), "not a run directory")


def test_validate_prints_the_resolved_config(tmp_path: Path) -> None:
    result = srlm("validate", str(_config(tmp_path, "dpo:\n  beta: 0.2\n")), "candidates.n=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "beta: 0.2" in result.stdout and "n: 5" in result.stdout


def test_validate_runs_the_preflight_checks(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = _config(tmp_path, f"model: {tiny_model_dir}\n")
    result = srlm("validate", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"# ok: model {tiny_model_dir}" in result.stderr and "# ok: data.ift builtin:ift_seed" in result.stderr
    assert "# ok: judge.template additive_5pt" in result.stderr
    _assert_user_error(srlm("validate", str(config), "judge.template=additive_5", cwd=tmp_path), "judge.template", "did you mean 'additive_5pt'?")
    _assert_user_error(srlm("validate", str(config), "model=Qwen/Qwen2.5-0.5B-Instruct-not-here", cwd=tmp_path), "not in the local Hugging Face cache")
    skipped = srlm("validate", str(config), "model=Qwen/Qwen2.5-0.5B-Instruct-not-here", "--no-preflight", cwd=tmp_path)
    assert skipped.returncode == 0 and "# ok:" not in skipped.stderr


def test_version_and_env(tmp_path: Path) -> None:
    from srlm import __version__

    version = srlm("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"srlm {__version__}"
    env = srlm("env", cwd=tmp_path)
    assert env.returncode == 0, env.stderr
    for line in ("torch ", "transformers ", "trl ", "torch threads ", "device ", f"srlm cache ($SRLM_CACHE)  {tmp_path / 'cache'}"):
        assert line in env.stdout


def test_status_says_what_a_path_is_when_it_is_not_a_run(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    (run / "M1" / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("name: r\n")
    (run / "M1" / "config.yaml").write_text("name: r\n")  # as the SFT stage leaves it
    (run / "M1" / "model" / "config.json").write_text("{}")
    _assert_user_error(srlm("status", str(run / "M1"), cwd=tmp_path), "model M1 of the run in", f"srlm status {run}")
    _assert_user_error(srlm("status", str(run / "M1" / "model"), cwd=tmp_path), "a model checkpoint, not a run directory")
    _assert_user_error(srlm("status", str(tmp_path / "nothing"), cwd=tmp_path), "no such directory")
    (tmp_path / "f.txt").write_text("x")
    _assert_user_error(srlm("status", str(tmp_path / "f.txt"), cwd=tmp_path), "a file, not a run directory")
