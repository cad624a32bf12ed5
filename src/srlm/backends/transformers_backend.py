"""Generation with a transformers model: our own batched sampler over the model's forward.

Existing implementations call ``generate`` once per prompt with ``num_return_sequences``. Here
(see bench/ and docs/performance.md for the measured effect of each step):

1. all (conversation, sample) rows of a call are decoded together, sorted by length;
2. a token prefix shared by every prompt (the judge rubric) is prefilled once per backend and
   its KV cache copied into each batch; prompts are padded *between* prefix and suffix, the pads
   masked, and positions given explicitly, so each row computes what it would alone;
3. each prompt is prefilled once and its KV cache repeated for its ``n`` samples;
4. the KV cache is one buffer written in place (no re-concatenation every step), rows stop at
   any end-of-turn token and finished rows are dropped from the batch.

Models whose attention is not plain full attention (sliding windows, linear layers) and
encoder-decoders use the plain path: ``model.generate`` on left-padded batches.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from transformers.cache_utils import Cache, DynamicLayer

from srlm.backends.base import Conversation, Sampling

# Tokens that end an assistant turn in common chat templates; counted as stops when the
# tokenizer has them as special tokens (ChatML, Llama 3, Gemma, Phi-3).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")


class TransformersBackend:
    """Generates with an in-process transformers model (CPU or one GPU).

    ``min_prefix_tokens``: a token prefix shared by all prompts of a call is cached when it is
    at least this long; the cache assumes the model's weights do not change while this backend
    holds it. ``fast=False`` forces the plain ``model.generate`` path (for checks).
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, system_prompt: str | None = None, *, min_prefix_tokens: int = 32, fast: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self.min_prefix_tokens = min_prefix_tokens
        self.tokenizer.padding_side = "left"
        self.stop_ids = stop_token_ids(model, tokenizer)
        self.fast = fast and fast_path_supported(model)
        self.drop_finished = True  # bench/bench_levers.py turns it off to measure what it gives
        self._prefix: _Prefix | None = None

    def encode(self, conversation: Conversation) -> list[int]:
        """Token ids of the chat-formatted conversation with the assistant turn opened."""
        messages = list(conversation)
        if self.system_prompt is not None and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": self.system_prompt}] + messages
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` continuations per conversation, in input order."""
        return [[self._decode(ids) for ids in samples] for samples in self.generate_ids(conversations, sampling)]

    def generate_ids(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[list[int]]]:
        """Like ``generate``, as token ids without the stop token (benchmarks count these)."""
        if not conversations:
            return []
        encoded = [self.encode(c) for c in conversations]
        if sampling.temperature == 0 and sampling.n > 1:
            # Greedy samples of one prompt are identical: decode one and copy it.
            once = self._generate_ids(encoded, 1, sampling)
            return [[list(ids[0]) for _ in range(sampling.n)] for ids in once]
        return self._generate_ids(encoded, sampling.n, sampling)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _generate_ids(self, encoded: list[list[int]], n: int, sampling: Sampling) -> list[list[list[int]]]:
        """Generated token ids (without the stop token), ``n`` lists per prompt, in input order."""
        out: list[list[list[int]]] = [[[] for _ in range(n)] for _ in encoded]
        generator = torch.Generator(device=self.model.device).manual_seed(sampling.seed)
        prefix = self._shared_prefix(encoded) if self.fast else None
        for segments in plan_batches([len(ids) for ids in encoded], n, self.batch_size):
            prompts = [encoded[conv] for conv, _, _ in segments]
            counts = [count for _, _, count in segments]
            if self.fast:
                rows = self._sample_fast(prompts, counts, prefix, sampling, generator)
            else:
                rows = self._sample_plain(prompts, counts, sampling, generator)
            slots = [(conv, first + k) for conv, first, count in segments for k in range(count)]
            for (conv, sample), ids in zip(slots, rows):
                out[conv][sample] = ids
        return out

    # -- the shared prefix ----------------------------------------------------------------

    @torch.inference_mode()
    def _shared_prefix(self, encoded: list[list[int]]) -> _Prefix | None:
        """The cached KV of the longest token prefix all prompts share, if long enough.

        Kept across calls: judging sends the same rubric in every call, so it is computed once.
        At least one token of each prompt stays outside it (its logits start the answer).
        """
        common = common_prefix_length(encoded)
        common = min(common, min(len(ids) for ids in encoded) - 1)
        cached = self._prefix
        if cached is not None:
            reuse = common_prefix_length([list(cached.ids), encoded[0][:common]])
            if reuse >= self.min_prefix_tokens:
                if reuse < len(cached.ids):
                    self._prefix = cached = cached.cropped(reuse)
                return cached
        if common < self.min_prefix_tokens:
            return None
        self._prefix = _Prefix.compute(self.model, encoded[0][:common])
        return self._prefix

    # -- the fast path --------------------------------------------------------------------

    @torch.inference_mode()
    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        """See ``Backend.next_token_expectations``: softmax over the logits of the given tokens
        after each conversation + continuation, then the mean of their values (float32)."""
        ids = single_token_ids(self.tokenizer, list(token_values))
        if ids is None:
            return None
        sequences = [self.encode(c) + self.tokenizer(text, add_special_tokens=False)["input_ids"] for c, text in zip(conversations, continuations)]
        probs = torch.softmax(self.next_token_logits(sequences)[:, ids], dim=-1)
        return [float(p) for p in probs @ torch.tensor(list(token_values.values()), dtype=torch.float32)]

    def close(self) -> None:
        """Nothing to release beyond what garbage collection frees (``StageContext.release``)."""
        self._prefix = None

    def next_token_logits(self, sequences: Sequence[list[int]]) -> torch.Tensor:
        """The model's next-token logits after each token sequence, one row each (float32, CPU).

        Batched like generation: length-sorted batches, and on the fast path the prefix all
        sequences share (the judge rubric) comes from the cached KV, so only each suffix is
        computed. ``next_token_expectations`` (the judge's expected digit) reads them this way.
        """
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        prefix = self._shared_prefix(list(sequences)) if self.fast else None
        rows: dict[int, torch.Tensor] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.fast:
                logits = self._prefill([list(sequences[i]) for i in batch], prefix, room=0)[0]
            else:
                logits = self._left_padded_logits([list(sequences[i]) for i in batch])
            rows.update({i: row.float().cpu() for i, row in zip(batch, logits)})
        return torch.stack([rows[i] for i in range(len(sequences))])

    def _left_padded_logits(self, prompts: list[list[int]]) -> torch.Tensor:
        """The plain path's last-position logits: padded as ``_sample_plain`` pads for
        ``generate``, positions from the mask as ``generate`` computes them. No
        ``logits_to_keep``: a forward without it is one reason a model takes this path."""
        padded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt")
        mask = padded["attention_mask"].to(self.model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return self.model(input_ids=padded["input_ids"].to(self.model.device), attention_mask=mask, position_ids=positions).logits[:, -1]

    def _prefill(self, prompts: list[list[int]], prefix: _Prefix | None, room: int) -> tuple[torch.Tensor, _BufferCache, torch.Tensor, torch.Tensor]:
        """Prefill one batch after the cached prefix: (last logits, cache, mask, positions).

        Pads go between the prefix and each suffix; the mask hides them and positions skip
        them, so each row computes what it would alone. The cache has ``room`` extra positions.
        """
        device = self.model.device
        start = len(prefix.ids) if prefix else 0
        suffixes = [ids[start:] for ids in prompts]
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in suffixes], device=device)
        suffix_mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in suffixes], device=device)
        mask = torch.cat([torch.ones(len(prompts), start, dtype=torch.long, device=device), suffix_mask], dim=1)
        positions = (start + suffix_mask.cumsum(1) - 1).clamp(min=start)
        cache = _BufferCache.from_prefix(prefix, len(prompts), start + width + room) if prefix else _BufferCache.empty(self.model)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], cache, mask, positions

    @torch.inference_mode()
    def _sample_fast(self, prompts: list[list[int]], counts: list[int], prefix: _Prefix | None, sampling: Sampling, generator: torch.Generator) -> list[list[int]]:
        """One batch: prefill each prompt once, repeat its cache ``count`` times, decode."""
        logits, cache, mask, positions = self._prefill(prompts, prefix, room=0)
        repeat = torch.repeat_interleave(torch.arange(len(prompts), device=logits.device), torch.tensor(counts, device=logits.device))
        cache.select(repeat, room=sampling.max_new_tokens)
        last = positions[:, -1][repeat]
        return self._decode_loop(logits[repeat], cache, mask[repeat], last, sampling, generator)

    def _decode_loop(self, logits: torch.Tensor, cache: _BufferCache, mask: torch.Tensor, last: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> list[list[int]]:
        """Sample until every row has stopped or reached ``max_new_tokens``; drop stopped rows."""
        rows = logits.shape[0]
        tokens: list[list[int]] = [[] for _ in range(rows)]
        alive = list(range(rows))  # original row of each batch row
        stops = torch.tensor(self.stop_ids, device=logits.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=logits.device)
        for step in range(sampling.max_new_tokens):
            chosen = sample_next(logits, sampling, generator)
            finished = finished | torch.isin(chosen, stops)
            for row, token, stop in zip(alive, chosen.tolist(), finished.tolist()):
                if not stop:
                    tokens[row].append(token)
            if step == sampling.max_new_tokens - 1 or bool(finished.all()):
                break
            if self.drop_finished and bool(finished.any()):
                # Stopped rows leave the batch: later steps only compute rows still writing.
                keep = (~finished).nonzero().squeeze(1)
                alive = [alive[i] for i in keep.tolist()]
                chosen, mask, last, finished = chosen[keep], mask[keep], last[keep], finished[keep]
                cache.select(keep)
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
            last = last + 1
            out = self.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=last[:, None], past_key_values=cache, use_cache=True)
            logits = out.logits[:, -1]
        return tokens

    # -- the plain path -------------------------------------------------------------------

    @torch.inference_mode()
    def _sample_plain(self, prompts: list[list[int]], counts: list[int], sampling: Sampling, generator: torch.Generator) -> list[list[int]]:
        """One batch through ``model.generate`` (left padding, each row prefilled separately)."""
        rows = [ids for ids, count in zip(prompts, counts) for _ in range(count)]
        padded = self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
        padded = {k: v.to(self.model.device) for k, v in padded.items()}
        greedy = sampling.temperature == 0
        # model.generate draws from torch's global generator; seed it from ours.
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device)))
        out = self.model.generate(
            **padded,
            max_new_tokens=sampling.max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None,
            eos_token_id=self.stop_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return [until_stop(row, self.stop_ids) for row in out[:, padded["input_ids"].shape[1] :].tolist()]


# -- helpers ------------------------------------------------------------------------------


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The model's end-of-sequence ids plus the chat template's end-of-turn token."""
    ids: list[int] = []
    for source in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        ids += source if isinstance(source, list) else [] if source is None else [source]
    special = set(tokenizer.all_special_tokens) | {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    ids += [tokenizer.convert_tokens_to_ids(token) for token in END_OF_TURN_TOKENS if token in special]
    return sorted(set(int(i) for i in ids if i is not None))


def fast_path_supported(model: Any) -> bool:
    """Whether the model is decoder-only with plain full attention in every layer (our cache's
    case) and its forward takes ``logits_to_keep``."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False) or "logits_to_keep" not in inspect.signature(model.forward).parameters:
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None:
        return all(kind == "full_attention" for kind in layer_types)
    return getattr(config, "sliding_window", None) is None or not getattr(config, "use_sliding_window", True)


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by all sequences.

    >>> common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]])
    2
    """
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for i in range(length):
        if any(s[i] != first[i] for s in sequences):
            return i
    return length


def plan_batches(lengths: list[int], n: int, batch_size: int) -> list[list[tuple[int, int, int]]]:
    """Batches of at most ``batch_size`` rows as (prompt, first sample, sample count) segments.

    Prompts are taken shortest first so a batch holds prompts of similar length (little
    padding); a prompt's samples stay together unless they do not fit in one batch.

    >>> plan_batches([5, 3, 9], 2, 3)
    [[(1, 0, 2), (0, 0, 1)], [(0, 1, 1), (2, 0, 2)]]
    """
    batches: list[list[tuple[int, int, int]]] = [[]]
    room = batch_size
    for conv in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        first = 0
        while first < n:
            if room == 0:
                batches.append([])
                room = batch_size
            count = min(n - first, room)
            batches[-1].append((conv, first, count))
            first, room = first + count, room - count
    return [b for b in batches if b]


def single_token_ids(tokenizer: Any, texts: Sequence[str]) -> list[int] | None:
    """The token id of each text when every one is a single token, else None."""
    ids = []
    for text in texts:
        encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            return None
        ids.append(encoded[0])
    return ids


def sample_next(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> torch.Tensor:
    """One token per row: argmax when greedy, else temperature then nucleus (top-p) sampling."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    # The nucleus is found among the k most likely tokens, k growing until it holds top_p of
    # every row's mass: the same tokens a sort of the whole vocabulary keeps, at a fraction
    # of the cost (that sort took as long as a third of a decode step at batch 16 on CPU).
    k = min(64, probs.shape[-1])
    while True:
        top, index = probs.topk(k, dim=-1)
        before = top.cumsum(dim=-1) - top
        if k == probs.shape[-1] or bool((before[:, -1] + top[:, -1] >= sampling.top_p).all()):
            break
        k = min(k * 4, probs.shape[-1])
    # A token stays while the mass of the tokens before it is still short of top_p.
    top = top.masked_fill(before >= sampling.top_p, 0.0)
    choice = torch.multinomial(top, 1, generator=generator)
    return index.gather(-1, choice).squeeze(1)


def until_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    """``ids`` up to (not including) the first stop token."""
    stops = set(stop_ids)
    for i, token in enumerate(ids):
        if token in stops:
            return ids[:i]
    return ids


# -- the KV cache -------------------------------------------------------------------------


@dataclass
class _Prefix:
    """Token ids of a shared prompt prefix and their per-layer keys and values (batch 1)."""

    ids: tuple[int, ...]
    kv: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def compute(cls, model: Any, ids: list[int]) -> _Prefix:
        cache = _BufferCache.empty(model)
        model(input_ids=torch.tensor([ids], device=model.device), past_key_values=cache, use_cache=True, logits_to_keep=1)
        return cls(tuple(ids), [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers])

    def cropped(self, length: int) -> _Prefix:
        """The first ``length`` tokens (causal attention: their KV does not depend on the rest)."""
        return _Prefix(self.ids[:length], [(k[:, :, :length].clone(), v[:, :, :length].clone()) for k, v in self.kv])


class _BufferLayer(DynamicLayer):
    """One layer's keys and values in a buffer allocated once and written in place.

    transformers' dynamic layer concatenates the whole cache at every step; on CPU that copy
    costs a large share of a decode step at a few hundred tokens of context.
    """

    def __init__(self) -> None:
        super().__init__()
        self.length = 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        if self._k is None or end > self._k.shape[-2]:
            self._resize(key_states, end)
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        self.is_initialized = True
        return self.keys, self.values

    def _resize(self, like: torch.Tensor, capacity: int) -> None:
        """A buffer of ``capacity`` positions holding what was cached so far."""
        shape = (like.shape[0], like.shape[1], capacity, like.shape[-1])
        k, v = like.new_empty(shape), like.new_empty(shape)
        if self._k is not None and self.length:
            k[:, :, : self.length] = self._k[:, :, : self.length]
            v[:, :, : self.length] = self._v[:, :, : self.length]
        self._k, self._v = k, v
        self.dtype, self.device = like.dtype, like.device

    def select(self, rows: torch.Tensor, room: int = 0) -> None:
        """Keep batch ``rows`` (repeats allowed); with ``room``, leave space for that many tokens."""
        capacity = self.length + room if room else self._k.shape[-2]
        k = self._k.new_empty((len(rows), self._k.shape[1], capacity, self._k.shape[-1]))
        v = self._v.new_empty(k.shape[:-1] + (self._v.shape[-1],))
        k[:, :, : self.length] = self._k[rows, :, : self.length]
        v[:, :, : self.length] = self._v[rows, :, : self.length]
        self._k, self._v = k, v
        self.keys, self.values = k[:, :, : self.length], v[:, :, : self.length]

    def get_seq_length(self) -> int:
        return self.length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0


class _BufferCache(Cache):
    """A cache of ``_BufferLayer``s, one per decoder layer."""

    @classmethod
    def empty(cls, model: Any) -> _BufferCache:
        return cls(layers=[_BufferLayer() for _ in range(model.config.get_text_config(decoder=True).num_hidden_layers)])

    @classmethod
    def from_prefix(cls, prefix: _Prefix, batch: int, capacity: int) -> _BufferCache:
        """``batch`` copies of the prefix, with room for ``capacity`` positions in all."""
        layers = []
        for k, v in prefix.kv:
            layer = _BufferLayer()
            layer._resize(k.expand(batch, -1, -1, -1), capacity)
            layer.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
            layers.append(layer)
        return cls(layers=layers)

    def select(self, rows: torch.Tensor, room: int = 0) -> None:
        for layer in self.layers:
            layer.select(rows, room)
