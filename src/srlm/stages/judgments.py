"""Stage 3: M(t) judges every candidate with the LLM-as-a-Judge prompt, several samples each.

SR: the additive 5-point prompt (Fig. 2), 3 samples averaged. A judgment without a parsable
score is kept in the file with ``score: null`` and counted; it never becomes 0 or -1. The
request, row and scoring are ``judging.judge``'s, shared with the judge evaluation. Who judges
is ``judge.kind`` (``judging.kinds``): M(t) by default, or a fixed model, reward model, endpoint
or function, all writing the same rows.
"""

from __future__ import annotations

from collections import Counter

from srlm.config import JudgeConfig
from srlm.judging.judge import JudgeContext, judge_items
from srlm.judging.kinds import FixedJudge, fixed_judge, seed_references
from srlm.records import CandidateRow, JudgmentRow
from srlm.runtime.rundir import RowLog
from srlm.stages.common import StageContext


def run(ctx: StageContext, candidates: list[CandidateRow]) -> list[JudgmentRow]:
    """Write ``judgments.jsonl``: per candidate, the sampled judgments, their scores and the mean."""
    cfg = ctx.config.judge
    log = RowLog(ctx.path("judgments.jsonl"))
    if log.done:
        return log.rows  # type: ignore[return-value]
    judge = stage_judge(ctx)
    judge_items(judge, candidates, log, cfg.samples, cfg.temperature, f"iter{ctx.iteration} judging", seed_key="judgments")
    if isinstance(judge, FixedJudge):
        judge.release()
    return log.finish(order=[c["id"] for c in candidates], before_final=lambda rows: ctx.record("judgments", judgment_stats(rows) | _who(cfg)))  # type: ignore[return-value]


def stage_judge(ctx: StageContext) -> JudgeContext:
    """``judge.kind``: M(t) itself (``self``), or a fixed judge seeded like M(t) would be."""
    cfg = ctx.config.judge
    if cfg.kind == "self":
        return ctx
    return fixed_judge(cfg.kind, cfg.spec, ctx.config, ctx.seed, seed_references(ctx.run.data), ctx.backend_factory)


def _who(cfg: JudgeConfig) -> dict:
    """The judge in the stats when it is not M(t) (``self`` runs keep their stats as they were)."""
    return {} if cfg.kind == "self" else {"judge": f"{cfg.kind}:{cfg.spec}"}


def judgment_stats(rows: list[JudgmentRow]) -> dict:
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
