"""Stage 1, self-instruction: the model writes new prompts from few-shot seed examples.

SR section 2.3: 8-shot prompting with seed prompts, temperature 0.6, top-p 0.9; new prompts are
filtered before use. Raw generations are kept in ``prompts_raw.jsonl`` (resumable, one
generation round at a time); the filter is deterministic, so ``prompts.jsonl`` is the same
after a restart.

With a fixed pool (``prompt_gen.pool_size`` or ``pool_file``; MR section 4.1: 20,000 prompts
written once by Llama-2-70B-Chat, 5,000 sampled per iteration) the same writing and filtering
fill ``prompt_pool/prompts.jsonl`` once (or the file is read), and each iteration samples its
prompts from the pool (``stages.prompt_pool``).
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srlm.backends.base import Backend, Conversation, Sampling
from srlm.data.prompt_pool import read_pool_file
from srlm.errors import UserError
from srlm.generation import Generation, generate_missing, stable_seed
from srlm.records import InstructionRow, PromptRow, RawPromptRow
from srlm.runtime import distributed
from srlm.runtime.rundir import RowLog, read_rows, write_json, write_rows
from srlm.stages.common import StageContext
from srlm.stages.prompt_filters import DuplicateIndex, clean_prompt, length_problem, rouge_l, words
from srlm.stages.prompt_pool import POOL_FOLDER, pool_enabled, sample_iteration

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
    """Write ``prompts.jsonl``: ``num_prompts`` filtered new prompts (fewer if rounds run out),
    or, with a pool, the iteration's sample of it, or (``prompt_gen.source: seed``) seed prompts."""
    if ctx.config.prompt_gen.source == "seed":
        return distributed.main_first(seed_prompts, ctx, seed_rows)
    if not pool_enabled(ctx.config):
        return write_prompts(ctx, seed_rows, Batch(ctx.folder, ctx.config.prompt_gen.num_prompts, f"it{ctx.iteration}", "prompts"))
    final = ctx.path("prompts.jsonl")
    if final.exists():
        return read_rows(final)
    pool = _pool(ctx, seed_rows)  # every process: writing the pool is a generation like any other
    return distributed.main_first(sample_iteration, ctx, pool)


@dataclass(frozen=True)
class Batch:
    """Where one set of new prompts is written: an iteration's, or the fixed pool's."""

    folder: Path
    count: int
    prefix: str  # row ids: "<prefix>-r<round>-<k>" raw, "<prefix>-p<k>" kept
    stage: str  # the seeds' name and the stats section


def write_prompts(ctx: StageContext, seed_rows: list[InstructionRow], batch: Batch) -> list[PromptRow]:
    """Generate and filter ``batch.count`` prompts into ``batch.folder/prompts.jsonl`` (resumable)."""
    final = batch.folder / "prompts.jsonl"
    if final.exists():
        return read_rows(final)
    raw = RowLog(batch.folder / "prompts_raw.jsonl")
    for round_index in range(ctx.config.prompt_gen.max_rounds):
        # A round's size depends only on the rounds before it, so a restart repeats it exactly.
        earlier = [row for row in in_order(raw.rows) if row["round"] < round_index]
        missing = batch.count - len(filter_prompts(earlier, seed_rows, ctx, batch.prefix)[0])
        if missing <= 0:
            break
        _generate_round(ctx, seed_rows, round_index, max(2 * missing, 4), raw, batch)
        raw.sync()  # several processes: the next round's size depends on all of this one's rows
    raw.finish(order=[row["id"] for row in in_order(raw.rows)])
    return distributed.main_first(_keep, ctx, seed_rows, raw.rows, batch)


def _keep(ctx: StageContext, seed_rows: list[InstructionRow], raw_rows: list[RawPromptRow], batch: Batch) -> list[PromptRow]:
    """Filter the raw prompts into ``prompts.jsonl``; read it instead where it exists."""
    final = batch.folder / "prompts.jsonl"
    if final.exists():
        return read_rows(final)
    kept, dropped = filter_prompts(raw_rows, seed_rows, ctx, batch.prefix)
    kept = kept[: batch.count]
    stats = {"generated": len(raw_rows), "kept": len(kept), "dropped": dict(dropped), "rounds": 1 + max((r["round"] for r in raw_rows), default=-1)}
    if batch.stage == "prompts":
        ctx.record("prompts", stats)
    else:  # the pool's own counts, beside it (the iterations record what they sample)
        write_json(batch.folder / "stats.json", {"source": "generated", "generator": ctx.config.prompt_gen.generator, "asked": batch.count, **stats})
    write_rows(final, kept)
    return kept


def _pool(ctx: StageContext, seed_rows: list[InstructionRow]) -> list[PromptRow]:
    """The run's fixed prompt pool: written once by the generator, or copied in from a file."""
    folder = ctx.run.root / POOL_FOLDER
    cfg = ctx.config.prompt_gen
    if cfg.pool_file:
        distributed.main_first(_copy_pool_file, folder, cfg.pool_file)
    return write_prompts(ctx, seed_rows, Batch(folder, cfg.pool_size, "pool", "pool"))


def _copy_pool_file(folder: Path, source: str) -> None:
    """The pool file's prompts into the run (a later edit of the file cannot change a run)."""
    if (folder / "prompts.jsonl").exists():
        return
    rows, stats = read_pool_file(source)
    write_json(folder / "stats.json", stats)
    write_rows(folder / "prompts.jsonl", rows)  # last: the pool exists only when complete


def in_order(raw_rows: list[RawPromptRow]) -> list[RawPromptRow]:
    """Raw rows in generation order (round, then index in the round), whichever process wrote them."""
    return sorted(raw_rows, key=lambda row: (row["round"], int(row["id"].rsplit("-", 1)[1])))


def _generate_round(ctx: StageContext, seed_rows: list[InstructionRow], round_index: int, size: int, raw: RowLog, batch: Batch) -> None:
    """Generate one round of ``size`` new prompts, appended a chunk at a time (resumable)."""
    cfg = ctx.config.prompt_gen
    rng = random.Random(ctx.seed(batch.stage, round_index))
    shots = [rng.sample(seed_rows, min(cfg.num_fewshot, len(seed_rows))) for _ in range(size)]
    ids = [f"{batch.prefix}-r{round_index}-{k:04d}" for k in range(size)]

    def rows(chunk: Sequence[int], outputs: list[list[str]], _: list[Conversation]) -> list[dict]:
        return [{"id": ids[k], "round": round_index, "fewshot_ids": [r["id"] for r in shots[k]], "raw": texts[0]} for k, texts in zip(chunk, outputs)]

    job = Generation(
        label=f"iter{ctx.iteration} {batch.stage}", unit="prompt", chunk_size=ctx.config.backend.batch_size, show_progress=batch.stage != "prompts",
        sampling=lambda index: Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=1, seed=ctx.seed(f"{batch.stage}-sample", round_index, index)),
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


def filter_prompts(raw_rows: list[RawPromptRow], seed_rows: list[InstructionRow], ctx: StageContext, prefix: str | None = None) -> tuple[list[PromptRow], Counter]:
    """Kept prompt rows (ids ``<prefix>-p<k>``, default the iteration's) and drop counts by
    reason, deterministic in the order of ``raw_rows``."""
    prefix = prefix or f"it{ctx.iteration}"
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
        kept.append({"id": f"{prefix}-p{len(kept):04d}", "prompt": prompt, "source_id": row["id"], "fewshot_ids": row["fewshot_ids"]})
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
