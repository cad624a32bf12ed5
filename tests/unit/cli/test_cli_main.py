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


def _in_process(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """``srlm ARGS`` in this process (no interpreter start-up): exit status, stdout, stderr."""
    from srlm.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "cache"))
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's --version and usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_runs_the_preflight_checks(tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    config = str(_config(tmp_path, f"model: {tiny_model_dir}\n"))
    code, _, err = _in_process(capsys, monkeypatch, tmp_path, "validate", config)
    assert code == 0, err
    assert f"# ok: model {tiny_model_dir}" in err and "# ok: data.ift builtin:ift_seed" in err
    assert "# ok: judge.template additive_5pt" in err
    code, _, err = _in_process(capsys, monkeypatch, tmp_path, "validate", config, "judge.template=additive_5")
    assert code == 2 and "judge.template" in err and "did you mean 'additive_5pt'?" in err
    code, _, err = _in_process(capsys, monkeypatch, tmp_path, "validate", config, "model=Qwen/Qwen2.5-0.5B-Instruct-not-here")
    assert code == 2 and "not in the local Hugging Face cache" in err
    code, _, err = _in_process(capsys, monkeypatch, tmp_path, "validate", config, "model=Qwen/Qwen2.5-0.5B-Instruct-not-here", "--no-preflight")
    assert code == 0 and "# ok:" not in err


def test_version_and_env(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from srlm import __version__

    code, out, _ = _in_process(capsys, monkeypatch, tmp_path, "--version")
    assert code == 0 and out.strip() == f"srlm {__version__}"
    code, out, err = _in_process(capsys, monkeypatch, tmp_path, "env")
    assert code == 0, err
    for line in ("torch ", "transformers ", "trl ", "torch threads ", "device ", f"srlm cache ($SRLM_CACHE)  {tmp_path / 'cache'}"):
        assert line in out


@pytest.mark.parametrize("path, fragment", [
    ("runs/r/M1", "model M1 of the run in runs/r, not a run; try 'srlm status runs/r'"),
    ("runs/r/M1/model", "a model checkpoint, not a run directory"),
    ("nothing", "no such directory"),
    ("f.txt", "a file, not a run directory"),
])
def test_status_says_what_a_path_is_when_it_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, path: str, fragment: str) -> None:
    run = tmp_path / "runs" / "r"
    (run / "M1" / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("name: r\n")
    (run / "M1" / "config.yaml").write_text("name: r\n")  # as the SFT stage leaves it
    (run / "M1" / "model" / "config.json").write_text("{}")
    (tmp_path / "f.txt").write_text("x")
    code, _, err = _in_process(capsys, monkeypatch, tmp_path, "status", path)
    assert code == 2 and err.startswith("srlm: error:") and fragment in err, err
