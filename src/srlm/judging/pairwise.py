"""Head-to-head judging: which of two answers to the same prompt is better, in both orders.

Two methods, chosen per command (``--method``):

- ``pairwise`` (default; the papers' head-to-head used GPT-4 as a *pairwise* evaluator): the
  judge sees the question and both answers with ``templates/pairwise.txt`` and ends with
  ``Winner: Response A`` or ``Winner: Response B``. Each prompt is judged twice, once with each
  model's answer shown first; the verdicts are mapped back to models (``unswap``), and
  ``evaluation.metrics.head_to_head`` counts agreement as a win or loss and anything else as a tie. This is
  the method for a strong external judge.
- ``additive``: the judge scores each answer alone with the run's 5-point judge prompt (the one a
  self-rewarding model was trained on, so its own judge can be used), ``eval.judge_samples``
  times, and the higher mean score wins; equal or unparsed means tie. Position cannot bias a
  single-answer score, so both "orders" get the same verdict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from srlm.backends.base import Conversation, Sampling
from srlm.config import Config
from srlm.errors import UserError
from srlm.generation import Generation, generate_missing
from srlm.judging.judge import JudgeContext, judge_items
from srlm.judging.parse import ModelVerdict, parse_verdict
from srlm.judging.templates import fill, load_template
from srlm.runtime.rundir import RowLog

METHODS = ("pairwise", "additive")
# Room for the ~100-word justification the template asks for, plus the verdict line.
PAIRWISE_MAX_NEW_TOKENS = 256


def load_pairwise_template(name_or_path: str = "pairwise") -> str:
    """The shipped pairwise prompt, or a user's file with {prompt}, {response_a}, {response_b}."""
    return load_template(name_or_path, ("prompt", "response_a", "response_b"))


def pairwise_conversation(template: str, prompt: str, first: str, second: str) -> Conversation:
    """The judge request showing ``first`` as Response A and ``second`` as Response B."""
    return [{"role": "user", "content": fill(template, prompt=prompt, response_a=first, response_b=second)}]


def unswap(verdict: ModelVerdict, swapped: bool) -> ModelVerdict:
    """Which *model* won, from the judge's positional verdict ("A" = shown first).

    ``swapped`` says model B's answer was shown first.

    >>> unswap("A", swapped=True), unswap("A", swapped=False), unswap(None, swapped=True)
    ('B', 'A', None)
    """
    if verdict is None or not swapped:
        return verdict
    return "B" if verdict == "A" else "A"


@dataclass(frozen=True)
class JudgeSettings:
    """How the head-to-head judge is asked: method, prompt and decoding."""

    method: str = "pairwise"
    template: str = "pairwise"  # pairwise: "pairwise" or a file; additive: the judge template
    temperature: float = 0.0
    top_p: float = 0.9
    max_new_tokens: int = PAIRWISE_MAX_NEW_TOKENS
    samples: int = 1  # additive only: judgments per answer, averaged

    @classmethod
    def from_config(cls, config: Config, method: str = "pairwise", max_new_tokens: int = 0) -> JudgeSettings:
        """Decoding from ``eval.judge_temperature``/``judge.top_p``; prompt by method.

        ``additive`` takes the prompt, top-p and token limit from the ``judge`` section (the
        run's own judge settings); ``max_new_tokens`` overrides the pairwise limit only.
        """
        check_method(method)
        if method == "additive":
            j = config.judge
            return cls(method, j.template, config.eval.judge_temperature, j.top_p, j.max_new_tokens, config.eval.judge_samples)
        return cls(method, "pairwise", config.eval.judge_temperature, config.judge.top_p, max_new_tokens or PAIRWISE_MAX_NEW_TOKENS)

    def template_text(self) -> str:
        if self.method == "additive":
            return load_template(self.template, ("prompt", "response"))
        return load_pairwise_template(self.template)


def head_to_head_verdicts(
    judge: JudgeContext, items: Sequence[dict], settings: JudgeSettings, log_path: Path, desc: str
) -> tuple[list[ModelVerdict], list[ModelVerdict], list[dict]]:
    """Verdicts on ``items`` (``{"id", "prompt", "answer_a", "answer_b"}``) by ``settings.method``.

    Returns the winning model per item with A's answer shown first, with B's shown first, and
    per-item details (judgment texts or scores) for the output file. Judgments are logged in
    ``log_path`` so an interrupted evaluation resumes.
    """
    log = RowLog(log_path)
    if settings.method == "additive":
        verdicts, scores_a, scores_b = judge_by_scores(judge, items, log, settings, desc)
        details = [{"score_a": a, "score_b": b} for a, b in zip(scores_a, scores_b)]
        return verdicts, list(verdicts), details
    sampling = Sampling(temperature=settings.temperature, top_p=settings.top_p, max_new_tokens=settings.max_new_tokens)
    rows = judge_pairs(judge, items, log, sampling, settings.template_text(), desc)
    ab, ba = [rows[f"{i['id']}-ab"] for i in items], [rows[f"{i['id']}-ba"] for i in items]
    details = [
        {"judgment_a_first": x["judgment"], "judgment_b_first": y["judgment"], "verdict_a_first": x["winner"], "verdict_b_first": y["winner"]}
        for x, y in zip(ab, ba)
    ]
    return [x["winner"] for x in ab], [y["winner"] for y in ba], details


def judge_pairs(judge: JudgeContext, items: Sequence[dict], log: RowLog, sampling: Sampling, template: str, desc: str) -> dict[str, dict]:
    """Judge every item in both orders; returns the logged rows by id (``<id>-ab``/``<id>-ba``)."""
    requests = [(item, swapped) for item in items for swapped in (False, True)]

    def rows(chunk: Sequence[tuple[dict, bool]], outputs: list[list[str]], _: list[Conversation]) -> list[dict]:
        return [_judgment_row(item, swapped, texts[0]) for (item, swapped), texts in zip(chunk, outputs)]

    job = Generation(
        label=desc, unit="judgment", chunk_size=judge.config.backend.batch_size,
        sampling=lambda index: dataclasses.replace(sampling, n=1, seed=judge.seed(desc, index)),
        request=lambda request: _request(template, *request), rows=rows,
        row_ids=lambda request: [_request_id(*request)],
    )
    generate_missing(job, requests, lambda: judge.backend, log)
    log.finish(order=[_request_id(item, swapped) for item, swapped in requests])
    return {row["id"]: row for row in log.rows}


def _request_id(item: dict, swapped: bool) -> str:
    return f"{item['id']}-{'ba' if swapped else 'ab'}"


def _request(template: str, item: dict, swapped: bool) -> Conversation:
    first, second = (item["answer_b"], item["answer_a"]) if swapped else (item["answer_a"], item["answer_b"])
    return pairwise_conversation(template, item["prompt"], first, second)


def _judgment_row(item: dict, swapped: bool, text: str) -> dict:
    verdict = parse_verdict(text, "response")
    return {"id": _request_id(item, swapped), "prompt_id": item["id"], "b_first": swapped, "judgment": text, "verdict": verdict, "winner": unswap(verdict, swapped)}


def judge_by_scores(
    judge: JudgeContext, items: Sequence[dict], log: RowLog, settings: JudgeSettings, desc: str
) -> tuple[list[ModelVerdict], list[float | None], list[float | None]]:
    """The ``additive`` method: each answer scored alone; returns verdicts and both mean scores."""
    answers = [
        {"id": f"{item['id']}-{side}", "prompt_id": item["id"], "prompt": item["prompt"], "response": item[f"answer_{side}"]}
        for item in items
        for side in ("a", "b")
    ]
    # judge_items reads the prompt and decoding from judge.config.judge, as settings did.
    judge_items(judge, answers, log, settings.samples, settings.temperature, desc)
    log.finish(order=[a["id"] for a in answers])
    mean = {row["id"]: row["mean_score"] for row in log.rows}
    scores_a = [mean[f"{item['id']}-a"] for item in items]
    scores_b = [mean[f"{item['id']}-b"] for item in items]
    return [score_verdict(a, b) for a, b in zip(scores_a, scores_b)], scores_a, scores_b


def score_verdict(score_a: float | None, score_b: float | None) -> ModelVerdict:
    """The model whose answer scored higher; ``None`` for a tie or a missing score.

    >>> score_verdict(4.0, 3.5), score_verdict(2.0, 2.0), score_verdict(None, 1.0)
    ('A', None, None)
    """
    if score_a is None or score_b is None or score_a == score_b:
        return None
    return "A" if score_a > score_b else "B"


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    return method
