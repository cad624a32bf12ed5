"""The shipped reference-based reward: the positive control of ``configs/tiny_control.yaml``.

Self-rewarding asks two questions at once: does the loop (sample, score, pair best vs worst,
DPO) improve a model when the reward is informative, and does the model's own judgment give
such a reward? A reward that knows the answer separates the two. ``rouge_l_reward`` is ROUGE-L
F1 (Lin 2004) of a response against the seed's reference answer of its prompt, scaled to the
judge's 0-5 scale, computed by Google's ``rouge-score`` package (the reference implementation
of ROUGE-1.5.5 in Python). Use it as ``judge.kind: function`` with
``judge.spec: srlm.judging.reference:rouge_l_reward`` and ``prompt_gen.source: seed``, so every
iteration prompt has a reference; and as ``eval.win_rate_judge:
function:srlm.judging.reference:rouge_l_reward`` for the head-to-head on held-out prompts.

ROUGE-L rewards the reference's words in the reference's order: a crude notion of quality,
but one no 135M judge has to learn, which is the point of a control.
"""

from __future__ import annotations

import functools

MAX_SCORE = 5.0


@functools.cache
def _scorer():  # type: ignore[no-untyped-def]
    from rouge_score import rouge_scorer

    # No stemming: the score is the words as written (rouge-score lower-cases and keeps [a-z0-9]).
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(response: str, reference: str) -> float:
    """ROUGE-L F1 of ``response`` against ``reference``, in [0, 1].

    >>> rouge_l("the cat sat on the mat", "a cat sat on a mat")
    0.6666666666666666
    """
    return float(_scorer().score(reference, response)["rougeL"].fmeasure)


def rouge_l_reward(prompt: str, response: str, reference: str | None) -> float | None:
    """``5 * ROUGE-L F1(response, reference)``; ``None`` (unscored) for a prompt without a reference.

    >>> rouge_l_reward("Q?", "a cat sat on a mat", "a cat sat on a mat"), rouge_l_reward("Q?", "x", None)
    (5.0, None)
    """
    if not reference:
        return None
    return MAX_SCORE * rouge_l(response, reference)
