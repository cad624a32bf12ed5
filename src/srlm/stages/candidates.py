"""Stage 2: M(t) samples N responses per prompt (SR: N = 4, temperature 0.7, top-p 0.9)."""

from __future__ import annotations

from collections.abc import Sequence

from srlm.backends.base import Conversation, Sampling
from srlm.generation import Generation, generate_missing
from srlm.records import CandidateRow, PromptRow
from srlm.runtime.rundir import RowLog
from srlm.stages.common import StageContext


def run(ctx: StageContext, prompts: list[PromptRow]) -> list[CandidateRow]:
    """Write ``candidates.jsonl``: one row per (prompt, sample), resumable a chunk at a time."""
    cfg = ctx.config.candidates
    log = RowLog(ctx.path("candidates.jsonl"))
    if log.done:
        return log.rows  # type: ignore[return-value]

    def rows(chunk: Sequence[PromptRow], outputs: list[list[str]], _: list[Conversation]) -> list[dict]:
        return [
            {"id": candidate_id(p["id"], k), "prompt_id": p["id"], "prompt": p["prompt"], "sample": k, "response": text}
            for p, texts in zip(chunk, outputs)
            for k, text in enumerate(texts)
        ]

    # A chunk is about one generation batch of rows; its seed depends only on its index, so a
    # resumed run samples exactly what an uninterrupted one would.
    job = Generation(
        label=f"iter{ctx.iteration} candidates", unit="resp", chunk_size=ctx.config.backend.batch_size // cfg.n,
        sampling=lambda index: Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=cfg.n, seed=ctx.seed("candidates", index)),
        request=lambda p: [{"role": "user", "content": p["prompt"]}], rows=rows,
        row_ids=lambda p: [candidate_id(p["id"], k) for k in range(cfg.n)], units_per_item=cfg.n,
    )
    generate_missing(job, prompts, lambda: ctx.backend, log)
    order = [candidate_id(p["id"], k) for p in prompts for k in range(cfg.n)]
    return log.finish(order=order, before_final=lambda done: ctx.record("candidates", candidate_stats(ctx, done, len(prompts))))  # type: ignore[return-value]


def candidate_stats(ctx: StageContext, rows: list[CandidateRow], prompts: int) -> dict:
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
