"""Stage 3: M(t) judges every candidate with the LLM-as-a-Judge prompt, several samples each.

SR: the additive 5-point prompt (Fig. 2), 3 samples averaged. A judgment without a parsable
score is kept in the file with ``score: null`` and counted; it never becomes 0 or -1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from srlm import distributed
from srlm.backends.base import Sampling
from srlm.config import JudgeConfig
from srlm.judging.parse import parse_score
from srlm.judging.templates import fill, load_template
from srlm.rundir import RowLog
from srlm.stages.common import StageContext, chunked, progress


def judge_conversation(template: str, prompt: str, response: str) -> list[dict]:
    """The judge request for one candidate, as a one-turn conversation."""
    return [{"role": "user", "content": fill(template, prompt=prompt, response=response)}]


def run(ctx: StageContext, candidates: list[dict]) -> list[dict]:
    """Write ``judgments.jsonl``: per candidate, the sampled judgments, their scores and the mean."""
    cfg = ctx.config.judge
    template = load_template(cfg.template, ("prompt", "response"))
    log = RowLog(ctx.path("judgments.jsonl"))
    if log.done:
        return log.rows
    per_chunk = max(1, ctx.config.backend.batch_size // cfg.samples)
    bar = progress(len(candidates) * cfg.samples, f"iter{ctx.iteration} judging", "judgment")
    for index, chunk in distributed.shard(chunked(candidates, per_chunk)):
        if all(c["id"] in log.ids for c in chunk):
            bar.update(len(chunk) * cfg.samples)
            continue
        sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=cfg.samples, seed=ctx.seed("judgments", index))
        conversations = [judge_conversation(template, c["prompt"], c["response"]) for c in chunk]
        outputs = ctx.backend.generate(conversations, sampling)
        rows = [judgment_row(c, texts) for c, texts in zip(chunk, outputs)]
        score_rows(ctx.backend, cfg, rows, conversations)
        log.append(rows)
        bar.update(len(chunk) * cfg.samples)
    bar.close()
    return log.finish(order=[c["id"] for c in candidates], before_final=lambda rows: ctx.record("judgments", judgment_stats(rows)))


def judgment_row(candidate: dict, texts: list[str]) -> dict:
    scores = [parse_score(text) for text in texts]
    return {
        "id": candidate["id"],
        "prompt_id": candidate["prompt_id"],
        "judgments": texts,
        "scores": scores,
        "mean_score": mean_of(scores),
    }


def score_rows(backend: object, cfg: JudgeConfig, rows: list[dict], conversations: list[list[dict]]) -> None:
    """Apply ``judge.scoring`` and ``judge.expected_score_fallback`` to freshly judged rows."""
    if cfg.scoring == "expected":
        add_expected_means(backend, rows, conversations)
    elif cfg.expected_score_fallback:
        for row, conversation in zip(rows, conversations):
            add_expected_scores(backend, row, conversation)


def add_expected_means(backend: object, rows: list[dict], conversations: list[list[dict]]) -> None:
    """``judge.scoring: expected``: every sample's score is its expected digit; the mean of
    those is ``mean_score``. ``scores`` keep the written digits (parse rate, histograms); a
    sample without a ``Score:`` label is scored at an appended one, like the fallback.
    """
    from srlm.judging.expected import expected_scores

    flat = [(conversation, text) for row, conversation in zip(rows, conversations) for text in row["judgments"]]
    values = iter(expected_scores(backend, [c for c, _ in flat], [t for _, t in flat]))
    for row in rows:
        row["expected_scores"] = [next(values) for _ in row["judgments"]]
        row["mean_score"] = mean_of(row["expected_scores"])


def add_expected_scores(backend: object, row: dict, conversation: list[dict]) -> None:
    """Fill unparsed samples with the expected digit score (``judge.expected_score_fallback``).

    The parsed ``scores`` stay as they are (null = unparsed); ``expected_scores`` holds the
    fallback per sample and ``mean_score`` uses parsed scores first, then fallbacks.
    """
    from srlm.judging.expected import fallback_scores

    unparsed = [i for i, score in enumerate(row["scores"]) if score is None]
    found = dict(zip(unparsed, fallback_scores(backend, [conversation] * len(unparsed), [row["judgments"][i] for i in unparsed])))
    row["expected_scores"] = [found.get(i) for i in range(len(row["scores"]))]
    row["mean_score"] = mean_of(s if s is not None else f for s, f in zip(row["scores"], row["expected_scores"]))


def mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None, or None: unparsed samples are left out,
    never counted as 0 (SR averages the parsed samples, never floored)."""
    usable = [v for v in values if v is not None]
    return sum(usable) / len(usable) if usable else None


def judgment_stats(rows: list[dict]) -> dict:
    """Parsed/unparsed counts, the mean score and the histogram of single judgment scores."""
    scores = [s for row in rows for s in row["scores"]]
    parsed = [s for s in scores if s is not None]
    histogram = Counter(str(int(round(s))) for s in parsed)
    return {
        "candidates": len(rows),
        "judgments": len(scores),
        "parsed": len(parsed),
        "unparsed": len(scores) - len(parsed),
        "parse_rate": round(len(parsed) / max(len(scores), 1), 4),
        "candidates_without_score": sum(1 for row in rows if row["mean_score"] is None),
        # Unparsed samples that still got a score from the digit probabilities.
        "expected_score_fallbacks": sum(1 for row in rows for s, f in zip(row["scores"], row.get("expected_scores", [])) if s is None and f is not None),
        "mean_score": round(sum(parsed) / len(parsed), 4) if parsed else None,
        "histogram": {str(k): histogram.get(str(k), 0) for k in range(6)},
    }
