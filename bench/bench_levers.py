"""What each generation lever gives: the candidates and judging workloads under several set-ups.

All set-ups run in one process on the same inputs, in rotating order, one round per repeat:
- ``baseline``: one ``model.generate`` per prompt with ``num_return_sequences``;
- ``batched generate``: all rows of a call in one left-padded ``model.generate`` (the backend's
  plain path, ``fast=False``);
- ``ours, full-sort top-p``: our sampler, but nucleus sampling sorts the whole vocabulary;
- ``ours, keep finished rows``: our sampler, stopped rows stay in the batch;
- ``ours, no shared prefix``: our sampler without the cached prefix (judging only);
- ``ours``: everything on.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict

import torch
from common import ift_rows, parser, plain_generate, setup, write_result


def full_sort_sample(logits: torch.Tensor, sampling, generator: torch.Generator) -> torch.Tensor:
    """Nucleus sampling over the whole sorted vocabulary (what ``generate``'s top-p does)."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    ordered, order = probs.sort(dim=-1, descending=True)
    ordered = ordered.masked_fill(ordered.cumsum(dim=-1) - ordered >= sampling.top_p, 0.0)
    return torch.multinomial(torch.zeros_like(probs).scatter_(-1, order, ordered), 1, generator=generator).squeeze(1)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--prompts", type=int, default=4, help="prompts for the candidates workload (one call)")
    p.add_argument("--candidates", type=int, default=5, help="candidates for the judging workload (one call)")
    p.add_argument("--max-new-tokens", type=int, default=0, help="token limit for both (0 = each stage's from the config)")
    p.add_argument("--workloads", default="candidates,judging", help="which workloads to measure")
    args = p.parse_args()
    config, model, tokenizer = setup(args)

    from srlm.backends import transformers_backend as tb
    from srlm.backends.base import Sampling
    from srlm.judging.judge import judge_conversation
    from srlm.judging.templates import load_template

    rows = ift_rows(max(args.prompts, args.candidates))
    cand, judge = config.candidates, config.judge
    template = load_template(judge.template, ("prompt", "response"))
    workloads = {
        "candidates": ([[{"role": "user", "content": r["prompt"]}] for r in rows[: args.prompts]], Sampling(temperature=cand.temperature, top_p=cand.top_p, max_new_tokens=args.max_new_tokens or cand.max_new_tokens, n=cand.n)),
        "judging": ([judge_conversation(template, r["prompt"], r["response"]) for r in rows[: args.candidates]], Sampling(temperature=judge.temperature, top_p=judge.top_p, max_new_tokens=args.max_new_tokens or judge.max_new_tokens, n=judge.samples)),
    }
    size = config.backend.batch_size

    def backend(**changes) -> tb.TransformersBackend:
        b = tb.TransformersBackend(model, tokenizer, batch_size=size, fast=changes.get("fast", True), min_prefix_tokens=changes.get("min_prefix_tokens", 32))
        b.drop_finished = changes.get("drop_finished", True)
        return b

    def run_ours(b: tb.TransformersBackend, full_sort: bool = False):
        def go(conversations, sampling):
            original = tb.sample_next
            tb.sample_next = full_sort_sample if full_sort else original
            try:
                return b.generate_ids(conversations, sampling)
            finally:
                tb.sample_next = original
        return go

    plain = backend()

    def run_baseline(conversations, sampling):
        return [plain_generate(model, tokenizer, plain.encode(c), sampling.n, sampling, plain.stop_ids) for c in conversations]

    setups = {
        "baseline": run_baseline,
        "batched generate": run_ours(backend(fast=False)),
        "ours, full-sort top-p": run_ours(backend(), full_sort=True),
        "ours, keep finished rows": run_ours(backend(drop_finished=False)),
        "ours, no shared prefix": run_ours(backend(min_prefix_tokens=10**9)),
        "ours": run_ours(backend()),
    }
    results = {}
    for name, (conversations, sampling) in workloads.items():
        if name not in args.workloads.split(","):
            continue
        chosen = {k: v for k, v in setups.items() if name == "judging" or k != "ours, no shared prefix"}
        results[name] = measure(chosen, conversations, sampling, args.repeats)
    chosen_workloads = [w for w in workloads if w in args.workloads.split(",")]
    write_result("levers" if len(chosen_workloads) == len(workloads) else "levers_" + "_".join(chosen_workloads), {
        "what": "output tokens/s of each set-up on one stage call; speed-up = its rate / the baseline's rate in the same round (median over rounds)",
        "model": args.model,
        "settings": {"prompts": args.prompts, "candidates": args.candidates, "batch_size": size, "repeats": args.repeats,
                     "candidates_sampling": asdict(workloads["candidates"][1]), "judging_sampling": asdict(workloads["judging"][1])},
        "results": results,
    }, args.out)


def measure(setups: dict, conversations: list, sampling, repeats: int) -> dict:
    """Each set-up once per round, in rotating order; tokens/s and speed-up over the baseline."""
    names = list(setups)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            started = time.perf_counter()
            outputs = setups[name](conversations, sampling)
            rates[name].append(sum(len(ids) for samples in outputs for ids in samples) / (time.perf_counter() - started))
            print(f"round {r + 1}: {name}: {rates[name][-1]:.1f} tokens/s", file=sys.stderr, flush=True)
    return {
        name: {
            "tokens_per_s": round(statistics.median(rates[name]), 2),
            "speedup_vs_baseline": round(statistics.median(a / b for a, b in zip(rates[name], rates["baseline"])), 3),
        }
        for name in names
    }


if __name__ == "__main__":
    main()
