"""Generation with a transformers model: batched, left-padded, length-sorted.

Existing implementations call ``generate`` once per prompt with ``num_return_sequences``; here
all (conversation, sample) rows go through ``generate`` in batches of similar length, which
keeps the matrix multiplies wide (see bench/ for the measured difference).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from srlm.backends.base import Conversation, Sampling


class TransformersBackend:
    """Generates with an in-process transformers model (CPU or one GPU)."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, system_prompt: str | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self.tokenizer.padding_side = "left"

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
        encoded = [self.encode(c) for c in conversations]
        rows = [(i, ids) for i, ids in enumerate(encoded) for _ in range(sampling.n)]
        # Sorting by length keeps padding small; the order inside a batch does not change
        # what a row's tokens are under greedy decoding, and the seed fixes sampled ones.
        order = sorted(range(len(rows)), key=lambda k: len(rows[k][1]))
        texts: list[str] = [""] * len(rows)
        torch.manual_seed(sampling.seed)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            outputs = self._generate_batch([rows[k][1] for k in batch], sampling)
            for k, text in zip(batch, outputs):
                texts[k] = text
        return [texts[i * sampling.n : (i + 1) * sampling.n] for i in range(len(conversations))]

    @torch.inference_mode()
    def _generate_batch(self, batch: list[list[int]], sampling: Sampling) -> list[str]:
        padded = self.tokenizer.pad({"input_ids": batch}, padding=True, return_tensors="pt")
        padded = {k: v.to(self.model.device) for k, v in padded.items()}
        greedy = sampling.temperature == 0
        out = self.model.generate(
            **padded,
            max_new_tokens=sampling.max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = out[:, padded["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
