"""The LLM-as-a-Judge step, for every caller: the request, the judged row and its mean score.

Yuan et al. 2024 (SR), section 2.3 and Fig. 2: the judge reads the prompt and one response with
the additive 5-point rubric and ends with ``Score: <points>``; SR samples 3 judgments and
averages them. A judgment without a parsable score is kept with ``score: null`` and left out
of the mean; it never becomes 0 or -1 (that would make it the "rejected" response).

Used by the judgments stage (candidates of M(t)), the judge evaluation (held-out EFT
responses), EFT building from human rankings, and the additive head-to-head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from srlm.backends.base import Backend, Conversation, Sampling
from srlm.config import Config, JudgeConfig
from srlm.generation import Generation, compute_missing, generate_missing, progress
from srlm.judging.expected import expected_scores, fallback_scores
from srlm.judging.parse import parse_score
from srlm.judging.templates import fill, load_template
from srlm.records import JudgeItem, JudgmentRow, RankedPrompt
from srlm.runtime.rundir import RowLog


class JudgeContext(Protocol):
    """What judging needs: a config, a backend (loaded on first use) and per-chunk seeds.

    The pipeline's ``StageContext`` is one; ``evaluation.judges.EvalContext`` is one without a run.
    """

    config: Config

    @property
    def backend(self) -> Backend: ...

    def seed(self, stage: str, *chunk: int) -> int: ...


def judge_conversation(template: str, prompt: str, response: str) -> Conversation:
    """The judge request for one response, as a one-turn conversation."""
    return [{"role": "user", "content": fill(template, prompt=prompt, response=response)}]


def judgment_row(item: JudgeItem, texts: list[str]) -> JudgmentRow:
    """The judged row of one item: its sampled judgments, their written scores and the mean."""
    scores = [parse_score(text) for text in texts]
    return {"id": item["id"], "prompt_id": item["prompt_id"], "judgments": texts, "scores": scores, "mean_score": mean_of(scores)}


def mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None, or None: unparsed samples are left out,
    never counted as 0 (SR averages the parsed samples, never floored)."""
    usable = [v for v in values if v is not None]
    return sum(usable) / len(usable) if usable else None


def text_mean(row: JudgmentRow) -> float | None:
    """The mean of the digits the judge wrote (the score under ``judge.scoring: text``)."""
    return mean_of(row["scores"])


def score_rows(backend: Backend, cfg: JudgeConfig, rows: list[JudgmentRow], conversations: list[Conversation]) -> None:
    """Apply ``judge.scoring`` and ``judge.expected_score_fallback`` to freshly judged rows."""
    if cfg.scoring == "expected":
        add_expected_means(backend, rows, conversations)
    elif cfg.expected_score_fallback:
        for row, conversation in zip(rows, conversations):
            add_expected_scores(backend, row, conversation)


def add_expected_means(backend: Backend, rows: list[JudgmentRow], conversations: list[Conversation]) -> None:
    """``judge.scoring: expected``: every sample's score is its expected digit; the mean of
    those is ``mean_score``. ``scores`` keep the written digits (parse rate, histograms); a
    sample without a ``Score:`` label is scored at an appended one, like the fallback.
    """
    flat = [(conversation, text) for row, conversation in zip(rows, conversations) for text in row["judgments"]]
    values = iter(expected_scores(backend, [c for c, _ in flat], [t for _, t in flat]))
    for row in rows:
        row["expected_scores"] = [next(values) for _ in row["judgments"]]
        row["mean_score"] = mean_of(row["expected_scores"])


def add_expected_scores(backend: Backend, row: JudgmentRow, conversation: Conversation) -> None:
    """Fill unparsed samples with the expected digit score (``judge.expected_score_fallback``).

    The parsed ``scores`` stay as they are (null = unparsed); ``expected_scores`` holds the
    fallback per sample and ``mean_score`` uses parsed scores first, then fallbacks.
    """
    unparsed = [i for i, score in enumerate(row["scores"]) if score is None]
    found = dict(zip(unparsed, fallback_scores(backend, [conversation] * len(unparsed), [row["judgments"][i] for i in unparsed])))
    row["expected_scores"] = [found.get(i) for i in range(len(row["scores"]))]
    row["mean_score"] = mean_of(s if s is not None else f for s, f in zip(row["scores"], row["expected_scores"]))


def response_items(rows: Sequence[RankedPrompt], limit: int = 0) -> list[JudgeItem]:
    """One judge item per (prompt, response) of EFT-format rows, id ``<prompt id>-r<k>``."""
    rows = rows[:limit] if limit else rows
    return [
        {"id": f"{row['id']}-r{k}", "prompt_id": row["id"], "prompt": row["prompt"], "response": resp["text"]}
        for row in rows
        for k, resp in enumerate(row["responses"])
    ]


def judge_items(ctx: JudgeContext, items: Sequence[JudgeItem], log: RowLog, samples: int, temperature: float, label: str, seed_key: str | None = None) -> None:
    """Judge every item not yet in ``log`` (``samples`` judgments each), a chunk at a time.

    The prompt, top-p and token limit come from ``ctx.config.judge``; ``seed_key`` names the
    chunks' seeds (default: the progress ``label``). A judge context with a ``scalar`` scorer
    (``judging.kinds``: reward model, function) scores each item once instead.
    """
    scalar = getattr(ctx, "scalar", None)
    if scalar is not None:
        score_items(scalar, items, log, ctx.config.backend.batch_size, label)
        return
    cfg = ctx.config.judge
    template = load_template(cfg.template, ("prompt", "response"))
    key = seed_key or label

    def sampling(index: int) -> Sampling:
        return Sampling(temperature=temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=samples, seed=ctx.seed(key, index))

    def rows(chunk: Sequence[JudgeItem], outputs: list[list[str]], conversations: list[Conversation]) -> list[dict]:
        judged = [judgment_row(item, texts) for item, texts in zip(chunk, outputs)]
        score_rows(ctx.backend, cfg, judged, conversations)
        return judged  # type: ignore[return-value]

    job = Generation(
        label=label, unit="judgment", chunk_size=ctx.config.backend.batch_size // samples, sampling=sampling,
        request=lambda item: judge_conversation(template, item["prompt"], item["response"]), rows=rows, units_per_item=samples,
    )
    generate_missing(job, items, lambda: ctx.backend, log)


def scalar_row(item: JudgeItem, value: float | None) -> JudgmentRow:
    """The judged row of a scalar judge: no judgment text, one score (``None`` = unscored)."""
    return {"id": item["id"], "prompt_id": item["prompt_id"], "judgments": [], "scores": [value], "mean_score": value}


def score_items(scalar: Callable[[Sequence[JudgeItem]], list[float | None]], items: Sequence[JudgeItem], log: RowLog, chunk_size: int, label: str) -> None:
    """Score every item not yet in ``log`` with a scalar judge, a chunk at a time (resumable)."""

    def rows(_: int, chunk: Sequence[JudgeItem]) -> list[dict]:
        return [scalar_row(item, value) for item, value in zip(chunk, scalar(chunk))]  # type: ignore[misc]

    compute_missing(items, rows, log, chunk_size, bar=progress(len(items), label, "judgment"))
