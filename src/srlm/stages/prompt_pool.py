"""An iteration's prompts sampled from the run's fixed pool, never one an earlier iteration used.

MR (Wu et al. 2024, section 4.1): 20,000 prompts written once by Llama-2-70B-Chat, 5,000
sampled per iteration. The pool is ``<run>/prompt_pool/prompts.jsonl`` (written whole, once);
the sample is seeded by (seed, iteration) and excludes the pool ids in the earlier iterations'
``prompts.jsonl``, so a restarted iteration draws the same prompts and no prompt is used twice.
"""

from __future__ import annotations

import random

from srlm.config import Config
from srlm.records import PromptRow
from srlm.runtime.rundir import read_rows, write_rows
from srlm.stages.common import PipelineStop, StageContext, log

POOL_FOLDER = "prompt_pool"


def pool_enabled(config: Config) -> bool:
    """Whether prompts come from a fixed pool (MR) instead of being written each iteration (SR)."""
    return config.prompt_gen.pool_size > 0 or bool(config.prompt_gen.pool_file)


def used_before(ctx: StageContext) -> set[str]:
    """Pool ids that iterations 1 .. t-1 sampled."""
    used: set[str] = set()
    for t in range(1, ctx.iteration):
        path = ctx.run.iteration(t) / "prompts.jsonl"
        if path.exists():
            used.update(row["pool_id"] for row in read_rows(path) if "pool_id" in row)
    return used


def sample_iteration(ctx: StageContext, pool: list[PromptRow]) -> list[PromptRow]:
    """Write ``prompts.jsonl``: ``num_prompts`` unused pool prompts (fewer when the pool runs low)."""
    final = ctx.path("prompts.jsonl")
    if final.exists():
        return read_rows(final)
    used = used_before(ctx)
    free = [row for row in pool if row["id"] not in used]
    wanted = ctx.config.prompt_gen.num_prompts
    if not free:
        raise PipelineStop(f"iteration {ctx.iteration}: the prompt pool ({len(pool)} prompts in {ctx.run.root / POOL_FOLDER}) is used up by the earlier iterations; make it larger (prompt_gen.pool_size) or ask for fewer prompts per iteration")
    picked = random.Random(ctx.seed("pool-sample")).sample(free, min(wanted, len(free)))
    rows = [{"id": f"it{ctx.iteration}-p{k:04d}", "prompt": row["prompt"], "source_id": row["source_id"], "fewshot_ids": row["fewshot_ids"], "pool_id": row["id"]}
            for k, row in enumerate(picked)]
    if len(rows) < wanted:
        log.warning("iter%d: the prompt pool has %d unused prompts left, fewer than the %d asked for", ctx.iteration, len(free), wanted)
    ctx.record("prompts", {
        "source": "pool", "pool_size": len(pool), "used_before": len(used), "kept": len(rows),
        "short_by": wanted - len(rows), "left_after": len(free) - len(rows), "dropped": {},
    })
    write_rows(final, rows)
    return rows
