"""What repeats bit for bit on a GPU: a script behind docs/reliability.md (run it by hand on a
CUDA machine, from the repository root: ``python -m tests.reliability.gpu_determinism``; it prints one JSON object).

It checks, with a small random Llama built in place (no download):
1. seeded sampling, twice with the same batches: identical texts?
2. seeded sampling with another batch size (different padding): identical texts?
3. a few AdamW training steps, twice from the same seed: identical weights?
   once as PyTorch runs by default, once with ``torch.use_deterministic_algorithms(True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def _model(dtype: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.helpers.tiny_model import build_tiny_model

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "srlm-gpu-determinism"
    if not (folder / "config.json").exists():
        build_tiny_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to("cuda")
    torch.manual_seed(0)
    with torch.no_grad():  # a random model with larger weights samples more varied text
        for p in model.parameters():
            p.mul_(8.0)
    return model, tokenizer


def sample(model: Any, tokenizer: Any, prompts: list[str], batch_size: int, seed: int = 1234) -> list[str]:
    """Seeded sampling in the transformers backend's way: one seed, then batch after batch."""
    import torch

    torch.manual_seed(seed)
    texts = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True).to("cuda")
        out = model.generate(**batch, do_sample=True, temperature=0.7, top_p=0.9, top_k=None, max_new_tokens=48, pad_token_id=tokenizer.pad_token_id)
        texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :])
    return texts


def train_digest(model: Any, tokenizer: Any, deterministic: bool, steps: int = 8) -> str:
    """sha256 of the weights after ``steps`` AdamW steps on fixed text, from seed 0."""
    import torch

    torch.use_deterministic_algorithms(deterministic, warn_only=False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = tokenizer(["Explain why the sky is blue. Score: 4"] * 16, return_tensors="pt").to("cuda")
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    digest = hashlib.sha256(b"".join(p.detach().float().cpu().numpy().tobytes() for p in model.parameters())).hexdigest()
    model.load_state_dict(state)
    model.eval()
    torch.use_deterministic_algorithms(False)
    return digest


def main() -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    prompts = [f"Write a poem about the sea. {i} " * (1 + i % 5) for i in range(24)]
    result: dict[str, Any] = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name()}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        model, tokenizer = _model(dtype)
        first = sample(model, tokenizer, prompts, 8)
        result[f"{name}: same seed, same batches"] = first == sample(model, tokenizer, prompts, 8)
        result[f"{name}: same seed, batch size 4 instead of 8"] = first == sample(model, tokenizer, prompts, 4)
        result[f"{name}: distinct texts sampled"] = len(set(first))
        for deterministic in (False, True):
            runs = {train_digest(model, tokenizer, deterministic) for _ in range(3)}
            result[f"{name}: 8 AdamW steps x3, deterministic algorithms {deterministic}: identical weights"] = len(runs) == 1
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
