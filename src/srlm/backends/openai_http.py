"""Generation through an OpenAI-compatible chat server (``vllm serve``, llama.cpp's server, ...).

Requests go to ``<base_url>/chat/completions`` through one pooled ``httpx.Client`` per backend
(kept-alive connections, at most ``backend.concurrency`` open and in flight at a time). The
server applies the chat template.

- ``n`` samples: asked for in one request; a server that returns fewer choices (llama.cpp
  ignores ``n``) is asked again once per missing sample, each request with its own seed.
- Failures: connection errors, timeouts, HTTP 408/409/425/429/5xx and garbage answers (not
  JSON, no ``choices``) are retried with exponential back-off (``Retry-After`` is honoured);
  other HTTP errors fail at once. A request that still fails raises ``HTTPBackendError``
  naming the URL: a generation never hangs and never comes back as a made-up text.
- The API key is read from the environment variable named by ``backend.api_key_env`` at each
  request; it is never stored on the object, logged, or shown in an error or repr.
- ``count_tokens``: a remote server's tokenizer cannot be called cheaply, so a local tokenizer
  is used when given (``make_backend`` loads the one in the model directory if present);
  otherwise the count is ``ceil(len(text) / 4)``, the usual ~4 characters per English token.
  Length control only compares lengths within one run, so a consistent estimate suffices.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

import httpx

from srlm.backends.base import Conversation, Sampling
from srlm.backends.seeds import row_seed
from srlm.errors import UserError

log = logging.getLogger("srlm")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
CHARS_PER_TOKEN = 4
_SNIPPET = 200  # characters of a bad answer quoted in an error


class HTTPBackendError(UserError):
    """A chat request that the server refused, or that failed after all retries."""


class _Retryable(Exception):
    """One failed attempt worth repeating; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIHTTPBackend:
    """Generates by calling an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        max_retries: int = 4,
        concurrency: int = 8,
        backoff_s: float = 1.0,
        tokenizer: Any = None,
    ) -> None:
        for key, value, least in (("timeout_s", timeout_s, 1e-3), ("max_retries", max_retries, 0), ("concurrency", concurrency, 1)):
            if value < least:
                raise UserError(f"config key 'backend.{key}': {value!r} must be >= {least:g}")
        self.url = chat_url(base_url)
        self.shown_url = redact_url(self.url)
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff_s = backoff_s
        self.tokenizer = tokenizer
        self.stats: Counter[str] = Counter()  # requests, retries, garbage, failed
        self._lock = threading.Lock()
        self._n_supported: bool | None = None  # learnt from the first multi-sample answer
        # One pool for every request of this backend: connections are reused, never more than
        # ``concurrency`` of them. Redirects are not followed (a POST must not turn into a GET).
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.Client(timeout=timeout_s, limits=limits, follow_redirects=False)

    def __repr__(self) -> str:
        return f"OpenAIHTTPBackend(url={self.shown_url!r}, model={self.model_name!r}, api_key_env={self.api_key_env!r})"

    def count_tokens(self, text: str) -> int:
        """Tokens under the local tokenizer if there is one, else ``ceil(len(text) / 4)``."""
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        """``None``: a chat-completions endpoint gives no next-token probabilities after a
        given assistant prefix, so expected-digit scores are unavailable over HTTP."""
        return None

    def close(self) -> None:
        """Close the pooled connections (the server keeps its model)."""
        self._client.close()

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` texts per conversation, in input order; raises ``HTTPBackendError``."""
        texts: list[list[str]] = [[] for _ in conversations]
        abort = threading.Event()  # set on the first failure so other requests stop retrying
        # 1. One request per conversation asking for all n samples (unless the server ignores n).
        if self._n_supported is not False:
            jobs = [self._job(c, sampling, i, 0, sampling.n, abort) for i, c in enumerate(conversations)]
            for i, got in enumerate(self._run_all(jobs, abort)):
                texts[i] = got[: sampling.n]
            if sampling.n > 1 and conversations:
                self._n_supported = all(len(t) == sampling.n for t in texts)
        # 2. One request per missing sample, each with its own seed.
        missing = [(i, j) for i, t in enumerate(texts) for j in range(len(t), sampling.n)]
        jobs = [self._job(conversations[i], sampling, i, j, 1, abort) for i, j in missing]
        for (i, _), got in zip(missing, self._run_all(jobs, abort)):
            texts[i].append(got[0])
        return texts

    def _job(self, conversation: Conversation, sampling: Sampling, index: int, sample: int, n: int, abort: threading.Event) -> Callable[[], list[str]]:
        greedy = sampling.temperature == 0
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": list(conversation),
            "temperature": sampling.temperature,
            "top_p": 1.0 if greedy else sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": row_seed(sampling.seed, index, sample),
            "stream": False,
        }
        if n > 1:
            body["n"] = n
        return lambda: self._post(body, abort)

    def _run_all(self, jobs: list[Callable[[], list[str]]], abort: threading.Event) -> list[list[str]]:
        """Results of ``jobs`` in order, ``concurrency`` at a time; the first error is raised."""
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs))) as pool:
            try:
                futures: list[Future[list[str]]] = [pool.submit(job) for job in jobs]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in futures if f in done and f.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
            except BaseException:
                # Also on Ctrl-C: queued requests are dropped, running ones stop retrying.
                abort.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return [f.result() for f in futures]

    def _post(self, body: dict[str, Any], abort: threading.Event) -> list[str]:
        """The choices' texts of one request, retried with back-off."""
        error = "not attempted"
        for attempt in range(self.max_retries + 1):
            if abort.is_set():
                raise HTTPBackendError(f"{self.shown_url}: cancelled after another request failed")
            self._count("requests")
            try:
                return self._post_once(body)
            except _Retryable as exc:
                error = str(exc)
                if attempt == self.max_retries:
                    break
                delay = min(MAX_BACKOFF_S, exc.retry_after if exc.retry_after is not None else self.backoff_s * 2**attempt)
                self._count("retries")
                log.warning("%s: %s; retry %d/%d in %.1fs", self.shown_url, error, attempt + 1, self.max_retries, delay)
                abort.wait(delay)
        self._count("failed")
        raise HTTPBackendError(f"{self.shown_url}: request failed after {self.max_retries + 1} attempts: {error}")

    def _post_once(self, body: dict[str, Any]) -> list[str]:
        try:
            with self._client.stream("POST", self.url, content=json.dumps(body).encode(), headers=self._headers()) as response:
                raw = _read_within(response, self.timeout_s)
        except (httpx.TimeoutException, TimeoutError):
            raise _Retryable(f"no answer within {self.timeout_s:g}s") from None
        except httpx.ConnectError as exc:
            raise _Retryable(f"cannot connect ({self._scrub(str(exc))})") from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Retryable(f"connection broken ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise self._http_error(response.status_code, raw, response.headers.get("Retry-After"))
        return self._choices(raw)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _choices(self, raw: bytes) -> list[str]:
        """The texts in an answer, or ``_Retryable`` for garbage (counted)."""
        try:
            answer = json.loads(raw)
            texts = [choice["message"]["content"] for choice in answer["choices"]]
        except (ValueError, KeyError, TypeError, IndexError):
            self._count("garbage")
            raise _Retryable(f"answer is not a chat completion: {self._snippet(raw)!r}") from None
        if not texts or not all(isinstance(t, str) for t in texts):
            self._count("garbage")
            raise _Retryable(f"answer has no choice with text content: {self._snippet(raw)!r}")
        return [t.strip() for t in texts]

    def _http_error(self, status: int, body: bytes, retry_after: str | None) -> Exception:
        detail = self._snippet(body) if body else "(no body)"
        if status in RETRY_STATUS:
            return _Retryable(f"HTTP {status} {detail!r}", _retry_after(retry_after))
        self._count("failed")
        hint = {401: f"check the key in ${self.api_key_env}", 403: f"check the key in ${self.api_key_env}",
                404: "check backend.base_url (it usually ends in /v1) and backend.model_name"}.get(status, "")
        return HTTPBackendError(f"{self.shown_url}: HTTP {status} {detail!r}" + (f"; {hint}" if hint else ""))

    def _snippet(self, raw: bytes) -> str:
        return self._scrub(raw[:_SNIPPET].decode("utf-8", errors="replace"))

    def _scrub(self, text: str) -> str:
        """``text`` with the API key blanked out (a server may echo request headers)."""
        key = os.environ.get(self.api_key_env, "")
        return text.replace(key, "[redacted]") if key else text

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1


def chat_url(base_url: str) -> str:
    """``<base_url>/chat/completions``, refusing a URL that is not http(s).

    >>> chat_url("http://127.0.0.1:8000/v1/")
    'http://127.0.0.1:8000/v1/chat/completions'
    """
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"config key 'backend.base_url': {redact_url(base_url)!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
    if "@" in parts.netloc:
        # A config file is saved beside every run: secrets belong in the environment.
        raise UserError(f"config key 'backend.base_url': {redact_url(base_url)!r} holds credentials; put the key in the environment variable named by backend.api_key_env")
    return base_url.rstrip("/") + "/chat/completions"


def redact_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages.

    >>> redact_url("https://me:secret@host:1/v1")
    'https://***@host:1/v1'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _read_within(response: httpx.Response, timeout_s: float) -> bytes:
    """The body, read in chunks; a server that trickles bytes past the deadline times out
    (httpx's own timeout bounds each read, not the whole answer)."""
    deadline = time.monotonic() + timeout_s
    chunks = []
    for chunk in response.iter_bytes(65536):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in seconds form (the date form is ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
