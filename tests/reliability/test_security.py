"""Security checks: remote code off, safetensors only, no unsafe loaders in src, API keys never
written, run names that cannot leave the runs folder, user text not read as terminal markup."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import torch

from srlm.config import Config
from srlm.errors import UserError
from tests.helpers.loopback import reply_json

SRC = Path(__file__).resolve().parents[2] / "src" / "srlm"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")


def _calls(name: str) -> Iterator[tuple[Path, ast.Call]]:
    """Every call in src/srlm whose function is spelt ``name`` (e.g. ``torch.load``)."""
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == name:
                yield path, node


def _keyword(call: ast.Call, name: str) -> str | None:
    return next((ast.unparse(k.value) for k in call.keywords if k.arg == name), None)


def test_remote_code_is_off_by_default_and_never_forced_on() -> None:
    from srlm.runtime.models import load_model, load_tokenizer

    assert Config().trust_remote_code is False
    for function in (load_model, load_tokenizer):
        assert inspect.signature(function).parameters["trust_remote_code"].default is False
    forced = [f"{path.name}:{call.lineno}" for path in sorted(SRC.rglob("*.py")) for node in [ast.parse(path.read_text(encoding="utf-8"))]
              for call in ast.walk(node) if isinstance(call, ast.Call) and _keyword(call, "trust_remote_code") == "True"]
    assert forced == []


def test_no_unsafe_deserialisation_in_src() -> None:
    unsafe = [f"{p.name}:{c.lineno} torch.load without weights_only=True" for p, c in _calls("torch.load") if _keyword(c, "weights_only") != "True"]
    for name in ("pickle.load", "pickle.loads", "marshal.loads", "eval", "exec"):
        unsafe += [f"{p.name}:{c.lineno} {name}" for p, c in _calls(name)]
    for name in ("numpy.load", "np.load"):
        unsafe += [f"{p.name}:{c.lineno} {name} with pickles" for p, c in _calls(name) if _keyword(c, "allow_pickle") == "True"]
    # yaml.load is allowed only with a safe loader (config.py's subclass of SafeLoader).
    unsafe += [f"{p.name}:{c.lineno} yaml.load" for p, c in _calls("yaml.load") if _keyword(c, "Loader") not in ("yaml.SafeLoader", "yaml.CSafeLoader", "_UniqueKeyLoader")]
    unsafe += [f"{p.name}:{c.lineno} shell=True" for p in sorted(SRC.rglob("*.py")) for c in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
               if isinstance(c, ast.Call) and _keyword(c, "shell") == "True"]
    assert unsafe == []
    from srlm.config import _UniqueKeyLoader

    assert issubclass(_UniqueKeyLoader, __import__("yaml").SafeLoader)


def _looks_pickled(path: Path) -> bool:
    head = path.read_bytes()[:4]
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head == b"PK\x03\x04"


def test_a_run_directory_holds_safetensors_checkpoints_and_no_pickles(reference: dict) -> None:
    root = reference["root"]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert [p.name for p in files if p.suffix in PICKLE_SUFFIXES or _looks_pickled(p)] == []
    models = sorted(root.glob("M*/model"))
    assert len(models) == 2 and all((m / "model.safetensors").is_file() and (m.parent / "COMPLETE").is_file() and not (m / "COMPLETE").exists() for m in models)


# ---------------------------------------------------------------------------------------------
# API keys: a whole run through the OpenAI-compatible backend against a loopback server

KEY_ENV = "SRLM_RELIABILITY_API_KEY"


class ChatServer(ThreadingHTTPServer):
    """Answers /chat/completions: judge requests with a score, others with a short text."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.auth: set[str | None] = set()


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.auth.add(self.headers.get("Authorization"))
        request = body["messages"][-1]["content"]
        texts = [_answer(request, body.get("seed", 0), k) for k in range(body.get("n", 1))]
        choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"} for i, t in enumerate(texts)]
        reply_json(self, {"choices": choices})

    def log_message(self, *args: object) -> None:
        pass


def _answer(request: str, seed: int, sample: int) -> str:
    digest = hashlib.sha256(f"{request}|{seed}|{sample}".encode()).digest()
    if "additive 5-point" in request:
        return f"A fair answer.\nScore: {digest[0] % 6}"
    return f"Write a list of {digest[0] % 9 + 2} facts about the history of {['rivers', 'bread', 'maps', 'glass'][digest[1] % 4]} in Europe."


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_api_key_is_used_but_never_written_or_logged(chat_server: ChatServer, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    from srlm import pipeline
    from srlm.config import load_config
    from tests.helpers.scripted import tiny_overrides
    from tests.reliability.harness import FAST

    secret = "sk-reliability-" + os.urandom(12).hex()
    monkeypatch.setenv(KEY_ENV, secret)
    url = f"http://127.0.0.1:{chat_server.server_address[1]}/v1"
    overrides = tiny_overrides(tiny_model_dir, tmp_path / "runs", *FAST, "backend.kind=openai", f"backend.base_url={url}", f"backend.api_key_env={KEY_ENV}", "backend.concurrency=2")
    threads = torch.get_num_threads()
    caplog.set_level(logging.DEBUG)
    try:
        run = pipeline.run(load_config(None, overrides))
    finally:
        torch.set_num_threads(threads)
    assert chat_server.auth == {f"Bearer {secret}"}  # the key was really sent...
    assert (run.model_dir(2) / "COMPLETE").is_file()
    leaked = [str(p.relative_to(run.root)) for p in run.root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []  # ...and written nowhere,
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out and secret not in err  # nor logged
    assert f"api_key_env: {KEY_ENV}" in run.config.read_text()  # the config names the variable only


def test_run_names_cannot_leave_the_runs_folder_even_through_a_symlink(tmp_path: Path) -> None:
    from srlm.runtime.rundir import run_dir_for

    outside = tmp_path / "outside"
    outside.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "link").symlink_to(outside)
    for name in ("link", "..", "../outside", "/etc", "a/../../outside"):
        with pytest.raises(UserError, match="must stay inside"):
            run_dir_for(str(runs), name)


def test_status_prints_a_path_with_markup_literally(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from srlm.cli import main

    monkeypatch.setenv("COLUMNS", "300")
    root = Path(f"{tmp_path}/runs[bold red]x[/]")  # a folder "runs[bold red]x[" holding "]"
    root.mkdir(parents=True)
    (root / "config.yaml").write_text("name: x\n")
    assert main(["status", str(root)]) == 0
    assert "runs[bold red]x[/]" in capsys.readouterr().out
