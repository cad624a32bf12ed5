"""The OpenAI-compatible HTTP backend against real servers on 127.0.0.1.

Fast tests (always run) start a stdlib ``http.server`` in a thread that answers as scripted:
refused connections, slow answers, garbage, 429s, header echoes. Tests marked ``http_server``
start llama.cpp's OpenAI-compatible server on the embedded GGUF (``make test-http``) and skip
when ``llama_cpp`` is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from srlm.backends import make_backend
from srlm.backends.base import Sampling
from srlm.backends.openai_http import HTTPBackendError, OpenAIHTTPBackend
from srlm.config import Config
from srlm.errors import UserError

KEY_ENV = "SRLM_TEST_HTTP_KEY"
SECRET = "sk-test-9f8e7d6c5b4a-never-print-me"

# An answer: (status, headers, body). A script maps (request number, parsed JSON body) to one.
Answer = tuple[int, dict[str, str], bytes]
Script = Callable[[int, dict, "Handler"], Answer]


def completion(texts: list[str]) -> bytes:
    """A minimal OpenAI chat-completion body with one choice per text."""
    choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"} for i, t in enumerate(texts)]
    return json.dumps({"id": "x", "object": "chat.completion", "choices": choices}).encode()


def echo(number: int, body: dict, handler: "Handler") -> Answer:
    """``n`` choices, each naming the last user message and the request's seed."""
    text = f"{body['messages'][-1]['content']}|seed={body['seed']}"
    return 200, {}, completion([f"{text}|{k}" for k in range(body.get("n", 1))])


class Handler(BaseHTTPRequestHandler):
    """Answers POSTs by the server's script and records what it received."""

    server: "ScriptedServer"
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers speak: connections can be reused

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization"), "client": self.client_address})
            number = len(server.requests)
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            status, headers, payload = server.script(number, body, self)
        finally:
            with server.lock:
                server.in_flight -= 1
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, *args: object) -> None:
        pass


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()  # lets sleeping handlers finish at teardown

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    """Starts scripted loopback servers; all are shut down after the test."""
    started: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.release.set()
        server.shutdown()
        server.server_close()


def backend(url: str, **kwargs: object) -> OpenAIHTTPBackend:
    """A backend with small timeouts and back-off so failure tests finish in about a second."""
    options: dict = {"api_key_env": KEY_ENV, "timeout_s": 2.0, "max_retries": 2, "concurrency": 4, "backoff_s": 0.01}
    return OpenAIHTTPBackend(url, "test-model", **{**options, **kwargs})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(n: int = 1, temperature: float = 0.7) -> Sampling:
    return Sampling(temperature=temperature, top_p=0.9, max_new_tokens=32, n=n, seed=7)


# ---------------------------------------------------------------------------------------------
# Scripted servers: the protocol, n handling, order, concurrency


def test_sends_sampling_settings_and_returns_texts_in_order(serve) -> None:
    server = serve(echo)
    out = backend(server.base_url).generate([[{"role": "user", "content": f"q{i}"}] for i in range(5)], ask(n=2))
    assert [[t.split("|")[0] for t in texts] for texts in out] == [[f"q{i}"] * 2 for i in range(5)]
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert {k: sent["body"][k] for k in ("model", "temperature", "top_p", "max_tokens", "n")} == {
        "model": "test-model", "temperature": 0.7, "top_p": 0.9, "max_tokens": 32, "n": 2}
    assert len(server.requests) == 5  # n honoured: one request per conversation


def test_greedy_sends_temperature_zero_and_top_p_one(serve) -> None:
    server = serve(echo)
    backend(server.base_url).generate([[{"role": "user", "content": "q"}]], ask(temperature=0))
    body = server.requests[0]["body"]
    assert (body["temperature"], body["top_p"], "n" in body) == (0, 1.0, False)


def test_server_that_ignores_n_is_asked_once_per_sample_with_distinct_seeds(serve) -> None:
    server = serve(lambda number, body, handler: (200, {}, completion([f"s{body['seed']}"])))
    client = backend(server.base_url)
    out = client.generate([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]], ask(n=3))
    assert [len(texts) for texts in out] == [3, 3]
    assert all(len(set(texts)) == 3 for texts in out)  # each sample had its own seed
    assert len(server.requests) == 6
    # Learnt: the next call asks one sample per request straight away.
    client.generate([[{"role": "user", "content": "c"}]], ask(n=2))
    assert len(server.requests) == 8 and all("n" not in r["body"] for r in server.requests[6:])


def test_same_seed_gives_same_requests(serve) -> None:
    server = serve(echo)
    conversations = [[{"role": "user", "content": "q"}], [{"role": "user", "content": "q"}]]
    first = backend(server.base_url).generate(conversations, ask(n=2))
    assert first == backend(server.base_url).generate(conversations, ask(n=2))
    assert first[0] != first[1]  # identical prompts still get their own seeds


def test_concurrency_is_bounded(serve) -> None:
    def slow(number: int, body: dict, handler: Handler) -> Answer:
        time.sleep(0.05)
        return echo(number, body, handler)

    server = serve(slow)
    backend(server.base_url, concurrency=2).generate([[{"role": "user", "content": str(i)}] for i in range(8)], ask())
    assert len(server.requests) == 8
    assert server.max_in_flight <= 2


def test_requests_reuse_pooled_connections(serve) -> None:
    server = serve(echo)
    client = backend(server.base_url, concurrency=1)
    for k in range(4):
        client.generate([[{"role": "user", "content": f"q{k}"}]], ask())
    assert len(server.requests) == 4
    assert len({r["client"] for r in server.requests}) == 1  # one kept-alive connection for all
    client.close()


def test_empty_batch_sends_nothing(serve) -> None:
    server = serve(echo)
    assert backend(server.base_url).generate([], ask(n=2)) == []
    assert server.requests == []


# ---------------------------------------------------------------------------------------------
# Failures: bounded, clear, never a made-up text


def test_server_down_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    client = backend(url)
    start = time.monotonic()
    with pytest.raises(HTTPBackendError, match="after 3 attempts: cannot connect") as info:
        client.generate([[{"role": "user", "content": "hi"}]], ask())
    assert time.monotonic() - start < 5
    assert url in str(info.value)
    assert client.stats["requests"] == 3 and client.stats["failed"] == 1


def test_slow_server_times_out(serve) -> None:
    def sleeper(number: int, body: dict, handler: Handler) -> Answer:
        handler.server.release.wait(5)
        return echo(number, body, handler)

    server = serve(sleeper)
    start = time.monotonic()
    with pytest.raises(HTTPBackendError, match=r"no answer within 0.3s"):
        backend(server.base_url, timeout_s=0.3, max_retries=1).generate([[{"role": "user", "content": "hi"}]], ask())
    assert time.monotonic() - start < 3
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "payload, content_type",
    [
        (b"<html>502 Bad Gateway</html>", "text/html"),
        (b'{"object": "error", "message": "no choices here"}', "application/json"),
        (b'{"choices": []}', "application/json"),
        (b'{"choices": [{"message": {"role": "assistant", "content": null}}]}', "application/json"),
    ],
    ids=["not-json", "no-choices", "empty-choices", "null-content"],
)
def test_garbage_answers_are_counted_and_raise(serve, payload: bytes, content_type: str) -> None:
    server = serve(lambda number, body, handler: (200, {"Content-Type": content_type}, payload))
    client = backend(server.base_url)
    with pytest.raises(HTTPBackendError, match="after 3 attempts: answer") as info:
        client.generate([[{"role": "user", "content": "hi"}]], ask())
    assert server.base_url in str(info.value)
    assert client.stats["garbage"] == 3


@pytest.mark.parametrize("status", [429, 503])
def test_retryable_status_then_success(serve, status: int) -> None:
    def flaky(number: int, body: dict, handler: Handler) -> Answer:
        if number == 1:
            return status, {"Retry-After": "0"}, b'{"error": "busy"}'
        return echo(number, body, handler)

    server = serve(flaky)
    client = backend(server.base_url)
    out = client.generate([[{"role": "user", "content": "hi"}]], ask())
    assert out[0][0].startswith("hi|") and client.stats["retries"] == 1 and len(server.requests) == 2


def test_one_failure_stops_the_other_requests(serve) -> None:
    def script(number: int, body: dict, handler: Handler) -> Answer:
        if body["messages"][-1]["content"] == "bad":
            return 400, {}, b'{"error": "bad request"}'
        return 503, {}, b'{"error": "busy"}'  # would be retried for 1.5 s each without the abort

    server = serve(script)
    conversations = [[{"role": "user", "content": "bad" if i == 0 else str(i)}] for i in range(20)]
    start = time.monotonic()
    with pytest.raises(HTTPBackendError, match="HTTP 400"):
        backend(server.base_url, concurrency=2, backoff_s=0.5).generate(conversations, ask())
    assert time.monotonic() - start < 1.5
    assert len(server.requests) < 10


def test_client_errors_fail_at_once_with_a_hint(serve) -> None:
    server = serve(lambda number, body, handler: (404, {}, b'{"error": "model not found"}'))
    with pytest.raises(HTTPBackendError, match="HTTP 404.*check backend.base_url"):
        backend(server.base_url).generate([[{"role": "user", "content": "hi"}]], ask())
    assert len(server.requests) == 1


def test_api_key_is_sent_but_never_shown(serve, monkeypatch, caplog) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    # A hostile proxy that echoes the request's Authorization header in its error pages.
    server = serve(lambda number, body, handler: (500 if number < 3 else 401, {}, f"auth was {handler.headers['Authorization']}".encode()))
    client = backend(server.base_url)
    with caplog.at_level(logging.DEBUG, logger="srlm"), pytest.raises(HTTPBackendError) as info:
        client.generate([[{"role": "user", "content": "hi"}]], ask())
    assert server.requests[0]["auth"] == f"Bearer {SECRET}"
    shown = [str(info.value), repr(info.value), repr(client), str(vars(client)), caplog.text]
    assert all(SECRET not in text for text in shown)
    assert "[redacted]" in str(info.value) and f"${KEY_ENV}" in str(info.value)


def test_no_key_sends_no_authorization_header(serve, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    server = serve(echo)
    backend(server.base_url).generate([[{"role": "user", "content": "hi"}]], ask())
    assert server.requests[0]["auth"] is None


def test_credentials_in_the_url_are_refused_without_being_shown() -> None:
    with pytest.raises(UserError, match="backend.api_key_env") as info:
        OpenAIHTTPBackend(f"http://user:{SECRET}@127.0.0.1:8000/v1", "m")
    assert SECRET not in str(info.value)


def test_bad_settings_are_user_errors() -> None:
    with pytest.raises(UserError, match="backend.base_url"):
        OpenAIHTTPBackend("127.0.0.1:8000/v1", "m")
    with pytest.raises(UserError, match="backend.concurrency"):
        OpenAIHTTPBackend("http://127.0.0.1:8000/v1", "m", concurrency=0)
    with pytest.raises(UserError, match="backend.timeout_s"):
        OpenAIHTTPBackend("http://127.0.0.1:8000/v1", "m", timeout_s=0)


def test_count_tokens_approximates_four_chars_per_token() -> None:
    client = OpenAIHTTPBackend("http://127.0.0.1:1/v1", "m")
    assert [client.count_tokens(t) for t in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]


def test_make_backend_wires_the_openai_kind(tmp_path: Path, monkeypatch) -> None:
    config = Config()
    config.backend.kind = "openai"
    with pytest.raises(UserError, match="backend.base_url"):
        make_backend(tmp_path, config)
    config.backend.base_url = "http://127.0.0.1:8000/v1"
    built = make_backend(tmp_path, config)
    assert isinstance(built, OpenAIHTTPBackend)
    assert built.model_name == str(tmp_path)  # the name `vllm serve <dir>` gives its model
    config.backend.model_name = "served"
    assert make_backend(tmp_path, config).model_name == "served"


# ---------------------------------------------------------------------------------------------
# A real llama.cpp server on the embedded GGUF (make test-http)


def _wait_ready(base: str, process: subprocess.Popen, log_path: Path, limit_s: float = 120) -> None:
    """Returns once ``/v1/models`` answers; fails with the server's log if it dies or is slow."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"llama.cpp server not ready after {limit_s:.0f}s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of llama.cpp's OpenAI-compatible server on the embedded GGUF, on loopback."""
    for module in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(module, reason=f"{module} is not installed: run `make test-http` (pip install '.[http-server]')")
    from srlm.runtime.models import gguf_path

    port = closed_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.http_server
def test_real_server_generates_n_samples(llama_server: str) -> None:
    client = OpenAIHTTPBackend(llama_server, "smollm2", timeout_s=120, max_retries=1, concurrency=2)
    out = client.generate(
        [[{"role": "user", "content": "What is the capital of France?"}], [{"role": "user", "content": "Name a colour."}]],
        Sampling(temperature=0.7, top_p=0.9, max_new_tokens=24, n=2, seed=1),
    )
    assert [len(texts) for texts in out] == [2, 2]
    assert all(isinstance(t, str) and t.strip() for texts in out for t in texts)
    assert client.stats["failed"] == 0


@pytest.mark.http_server
def test_real_server_answers_a_judge_prompt(llama_server: str) -> None:
    from srlm.judging.judge import judge_conversation
    from srlm.judging.templates import load_template

    conversation = judge_conversation(load_template("additive_5pt"), "What is 2 + 2?", "2 + 2 = 4.")
    client = OpenAIHTTPBackend(llama_server, "smollm2", timeout_s=120, max_retries=1)
    [[judgment]] = client.generate([conversation], Sampling(temperature=0, max_new_tokens=48, n=1, seed=0))
    assert isinstance(judgment, str) and judgment.strip()
