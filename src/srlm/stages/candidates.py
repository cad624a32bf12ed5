"""Stage 2: M(t) samples N responses per prompt (SR: N = 4, temperature 0.7, top-p 0.9)."""

from __future__ import annotations

from srlm import distributed
from srlm.backends.base import Sampling
from srlm.rundir import RowLog
from srlm.stages.common import StageContext, chunked, progress


def run(ctx: StageContext, prompts: list[dict]) -> list[dict]:
    """Write ``candidates.jsonl``: one row per (prompt, sample), resumable a chunk at a time."""
    cfg = ctx.config.candidates
    log = RowLog(ctx.path("candidates.jsonl"))
    if log.done:
        return log.rows
    # A chunk is about one generation batch of rows; its seed depends only on its index, so a
    # resumed run samples exactly what an uninterrupted one would.
    per_chunk = max(1, ctx.config.backend.batch_size // cfg.n)
    bar = progress(len(prompts) * cfg.n, f"iter{ctx.iteration} candidates", "resp")
    for index, chunk in distributed.shard(chunked(prompts, per_chunk)):
        ids = [candidate_id(p["id"], k) for p in chunk for k in range(cfg.n)]
        if all(i in log.ids for i in ids):
            bar.update(len(ids))
            continue
        sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=cfg.n, seed=ctx.seed("candidates", index))
        outputs = ctx.backend.generate([[{"role": "user", "content": p["prompt"]}] for p in chunk], sampling)
        log.append([
            {"id": candidate_id(p["id"], k), "prompt_id": p["id"], "prompt": p["prompt"], "sample": k, "response": text}
            for p, texts in zip(chunk, outputs)
            for k, text in enumerate(texts)
        ])
        bar.update(len(ids))
    bar.close()
    order = [candidate_id(p["id"], k) for p in prompts for k in range(cfg.n)]
    return log.finish(order=order, before_final=lambda rows: ctx.record("candidates", candidate_stats(ctx, rows, len(prompts))))


def candidate_stats(ctx: StageContext, rows: list[dict], prompts: int) -> dict:
    """Counts and mean lengths of the candidates (length growth across iterations shows here)."""
    lengths = [ctx.backend.count_tokens(row["response"]) for row in rows]
    return {
        "prompts": prompts,
        "candidates": len(rows),
        "empty_responses": sum(1 for row in rows if not row["response"].strip()),
        "mean_length_tokens": round(sum(lengths) / max(len(lengths), 1), 1),
        "mean_length_chars": round(sum(len(r["response"]) for r in rows) / max(len(rows), 1), 1),
    }


def candidate_id(prompt_id: str, sample: int) -> str:
    return f"{prompt_id}-c{sample}"
