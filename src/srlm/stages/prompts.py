"""Stage 1, self-instruction: the model writes new prompts from few-shot seed examples.

SR section 2.3: 8-shot prompting with seed prompts, temperature 0.6, top-p 0.9; new prompts are
filtered before use. Raw generations are kept in ``prompts_raw.jsonl`` (resumable, one
generation round at a time); the filter is deterministic, so ``prompts.jsonl`` is the same
after a restart.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from srlm.backends.base import Backend, Conversation, Sampling
from srlm.errors import UserError
from srlm.generation import Generation, generate_missing, stable_seed
from srlm.records import InstructionRow, PromptRow, RawPromptRow
from srlm.runtime import distributed
from srlm.runtime.rundir import RowLog, read_rows, write_rows
from srlm.stages.common import StageContext
from srlm.stages.prompt_filters import DuplicateIndex, clean_prompt, length_problem, rouge_l, words

FEWSHOT_INSTRUCTION = (
    "Below are example requests that users sent to an AI assistant. Write one new request that "
    "is different from all of them: a new task, not a copy or a rewording. Reply with the new "
    "request only."
)


def fewshot_message(examples: list[str]) -> str:
    """The Self-Instruct style few-shot request that asks for task number k+1."""
    lines = [FEWSHOT_INSTRUCTION, ""]
    lines += [f"Task {i}: {text}" for i, text in enumerate(examples, start=1)]
    lines.append(f"Task {len(examples) + 1}:")
    return "\n".join(lines)


def run(ctx: StageContext, seed_rows: list[InstructionRow]) -> list[PromptRow]:
    """Write ``prompts.jsonl`` with ``num_prompts`` filtered new prompts (fewer if rounds run out)."""
    final = ctx.path("prompts.jsonl")
    if final.exists():
        return read_rows(final)
    if ctx.config.prompt_gen.source == "seed":
        return distributed.main_first(seed_prompts, ctx, seed_rows)
    cfg = ctx.config.prompt_gen
    raw = RowLog(ctx.path("prompts_raw.jsonl"))
    for round_index in range(cfg.max_rounds):
        # A round's size depends only on the rounds before it, so a restart repeats it exactly.
        earlier = [row for row in in_order(raw.rows) if row["round"] < round_index]
        missing = cfg.num_prompts - len(filter_prompts(earlier, seed_rows, ctx)[0])
        if missing <= 0:
            break
        _generate_round(ctx, seed_rows, round_index, max(2 * missing, 4), raw)
        raw.sync()  # several processes: the next round's size depends on all of this one's rows
    raw.finish(order=[row["id"] for row in in_order(raw.rows)])
    return distributed.main_first(_keep, ctx, seed_rows, raw.rows)


def _keep(ctx: StageContext, seed_rows: list[InstructionRow], raw_rows: list[RawPromptRow]) -> list[PromptRow]:
    """Filter the raw prompts into ``prompts.jsonl``; read it instead where it exists."""
    final = ctx.path("prompts.jsonl")
    if final.exists():
        return read_rows(final)
    kept, dropped = filter_prompts(raw_rows, seed_rows, ctx)
    kept = kept[: ctx.config.prompt_gen.num_prompts]
    ctx.record("prompts", {"generated": len(raw_rows), "kept": len(kept), "dropped": dict(dropped), "rounds": 1 + max((r["round"] for r in raw_rows), default=-1)})
    write_rows(final, kept)
    return kept


def in_order(raw_rows: list[RawPromptRow]) -> list[RawPromptRow]:
    """Raw rows in generation order (round, then index in the round), whichever process wrote them."""
    return sorted(raw_rows, key=lambda row: (row["round"], int(row["id"].rsplit("-", 1)[1])))


def _generate_round(ctx: StageContext, seed_rows: list[InstructionRow], round_index: int, size: int, raw: RowLog) -> None:
    """Generate one round of ``size`` new prompts, appended a chunk at a time (resumable)."""
    cfg = ctx.config.prompt_gen
    rng = random.Random(ctx.seed("prompts", round_index))
    shots = [rng.sample(seed_rows, min(cfg.num_fewshot, len(seed_rows))) for _ in range(size)]
    ids = [f"it{ctx.iteration}-r{round_index}-{k:04d}" for k in range(size)]

    def rows(chunk: Sequence[int], outputs: list[list[str]], _: list[Conversation]) -> list[dict]:
        return [{"id": ids[k], "round": round_index, "fewshot_ids": [r["id"] for r in shots[k]], "raw": texts[0]} for k, texts in zip(chunk, outputs)]

    job = Generation(
        label=f"iter{ctx.iteration} prompts", unit="prompt", chunk_size=ctx.config.backend.batch_size, show_progress=False,
        sampling=lambda index: Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=1, seed=ctx.seed("prompts-sample", round_index, index)),
        request=lambda k: [{"role": "user", "content": fewshot_message([r["prompt"] for r in shots[k]])}],
        rows=rows, row_ids=lambda k: [ids[k]],
    )
    # A fixed writer model is loaded once per round, and only if a chunk still needs it.
    generate_missing(job, list(range(size)), functools.cache(lambda: _generator(ctx)), raw)


def _generator(ctx: StageContext) -> Backend:
    """M(t) by default; a fixed model when the config names one (SR used Llama-2-70B-Chat)."""
    name = ctx.config.prompt_gen.generator
    if name == "current":
        return ctx.backend
    from srlm.runtime.models import resolve_model

    return ctx.backend_factory(Path(resolve_model(name)), ctx.config)


def filter_prompts(raw_rows: list[RawPromptRow], seed_rows: list[InstructionRow], ctx: StageContext) -> tuple[list[PromptRow], Counter]:
    """Kept prompt rows and drop counts by reason, deterministic in the order of ``raw_rows``."""
    cfg = ctx.config.prompt_gen
    seed_by_id = {row["id"]: row["prompt"] for row in seed_rows}
    seed_index = DuplicateIndex(cfg.dedup_threshold, [row["prompt"] for row in seed_rows])
    seen = DuplicateIndex(cfg.dedup_threshold)
    kept: list[dict] = []
    dropped: Counter = Counter()
    for row in raw_rows:
        prompt = clean_prompt(row["raw"])
        reason = length_problem(prompt, cfg.min_words, cfg.max_words) or _copy_problem(prompt, row, seed_by_id, cfg.dedup_threshold)
        if reason is None and seed_index.is_duplicate(prompt):
            reason = "near_duplicate_of_seed"
        if reason is None and seen.is_duplicate(prompt):
            reason = "near_duplicate_of_generated"
        if reason:
            dropped[reason] += 1
            continue
        seen.add(prompt)
        kept.append({"id": f"it{ctx.iteration}-p{len(kept):04d}", "prompt": prompt, "source_id": row["id"], "fewshot_ids": row["fewshot_ids"]})
    return kept, dropped


def _copy_problem(prompt: str, row: dict, seed_by_id: dict, threshold: float) -> str | None:
    """'copied_fewshot' when the prompt repeats one of the examples it was shown."""
    tokens = words(prompt)
    for shot_id in row["fewshot_ids"]:
        shot = seed_by_id.get(shot_id, "")
        if prompt.strip().lower() == shot.strip().lower() or rouge_l(tokens, words(shot)) > threshold:
            return "copied_fewshot"
    return None


def seed_prompts(ctx: StageContext, seed_rows: list[InstructionRow]) -> list[PromptRow]:
    """``prompt_gen.source: seed``: ``num_prompts`` of the run's training seed prompts, no model.

    The training IFT rows (never the held-out ones) are shuffled once by the run's seed and
    iteration t takes the next ``num_prompts`` of them, wrapping around when the pool runs
    out, so iterations see different prompts while there are enough. Each keeps its seed id
    (``source_id``); a reference-based judge finds the reference answer by the prompt's text
    (``judging.kinds.seed_references``).
    """
    final = ctx.path("prompts.jsonl")
    if final.exists():
        return read_rows(final)
    pool = [row for row in seed_rows if row.get("response")]
    if not pool:
        raise UserError("config key 'prompt_gen.source': 'seed' needs training seed prompts with reference answers; data/ift.jsonl has none")
    order = list(range(len(pool)))
    random.Random(stable_seed(ctx.config.seed, "seed-prompts")).shuffle(order)
    n, start = ctx.config.prompt_gen.num_prompts, (ctx.iteration - 1) * ctx.config.prompt_gen.num_prompts
    picked = [pool[order[(start + k) % len(pool)]] for k in range(n)]
    kept = [{"id": f"it{ctx.iteration}-p{k:04d}", "prompt": row["prompt"], "source_id": row["id"], "fewshot_ids": []} for k, row in enumerate(picked)]
    ctx.record("prompts", {"source": "seed", "pool": len(pool), "kept": len(kept), "repeated_from_earlier_iterations": min(n, max(0, start + n - len(pool)))})
    write_rows(final, kept)
    return kept
