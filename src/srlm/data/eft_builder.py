"""Build graded judge-training (EFT) rows from IFT rows by controlled degradation.

The paper's EFT set comes from human-ranked Open Assistant answers judged by the SFT model
(Yuan et al. 2024, section 3.1). Without such a set we make responses of *known* quality from each
IFT answer and write the judgment that the additive 5-point rubric
(``judging/templates/judge_additive_5pt.txt``) gives them:

=========  ===========================================================  ======
kind       how the response is made                                     score
=========  ===========================================================  ======
good       the real answer                                              4 or 5
partial    its first sentences, then a generic non-committal filler     2 or 3
vague      a polite template that names no facts, steps or examples     1
truncated  the real answer cut off mid-sentence (30-65 % of its words)  1 or 2
off_topic  the real answer to a *different* seed prompt                 0
=========  ===========================================================  ======

Each judgment is 1-3 sentences picked from several wordings (so the judge does not learn one
string) and ends with ``Score: N`` on its own last line. Everything is deterministic for a
seed: each row draws from its own ``random.Random`` keyed by seed and row id.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from srlm.judging.templates import fill

DEGRADATIONS: tuple[str, ...] = ("good", "partial", "vague", "truncated", "off_topic")

# A sentence ends at . ! ? followed by whitespace, at a colon that ends a line (it introduces
# a list or code), or at a line break, but not at a list marker ("2. Kiwi"). A fenced code
# block is never split, since half a code block is a syntax error, not a partial answer.
_SENTENCE_END = re.compile(r"(?<!\b\d)(?<!\b\d\d)[.!?](?=\s)|:(?=[ \t]*\n)|\n")
_CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_WORD = re.compile(r"\S+")
_MIN_WORDS_TO_TRUNCATE = 8
_DONOR_DRAWS = 20
# A good answer this long is marked down to 4 for concision (rubric point 5: "without
# extraneous information"); otherwise a seeded minority of good answers get 4, so the judge
# sees both top grades (the paper's judge mostly gave 4).
_LONG_ANSWER_WORDS = 100
_GOOD_FOUR_SHARE = 0.3

_FILLERS = (
    "There is more to it than that, but this covers the main idea.",
    "Beyond this, it really depends on your particular situation.",
    "Other details vary from case to case, so it is worth looking into further.",
    "The rest depends on a number of factors that are hard to pin down.",
)

_VAGUE = (
    "That's a good question about {topic}. There are several ways to look at it, and the best "
    "answer depends on your situation. It's worth thinking it through and checking reliable "
    "sources.",
    "Thanks for asking! Many people wonder about this. The answer can vary quite a bit, so I'd "
    "suggest weighing the different factors and deciding what works best for you.",
    "When it comes to {topic}, there isn't a single answer. It depends on many things, and "
    "different people will see it differently. Keep an open mind and explore the options.",
    "This is an interesting topic with a lot of nuance. Generally speaking, it helps to "
    "consider the context and look at the bigger picture before drawing any conclusions.",
)

# Judgment wordings per grade. Slots: {n} words in the response, {kept} percent of the real
# answer kept, {other} the prompt that an off-topic answer actually belongs to.
_JUDGMENTS: dict[tuple[str, int], tuple[str, ...]] = {
    ("good", 5): (
        "The response is relevant, covers the whole request and answers it directly. It reads "
        "as a focused assistant reply with no padding, which earns all five points.",
        "All criteria are met: it is on topic, complete, useful and clearly organised. It "
        "answers exactly what was asked without drifting, so the fifth point applies too.",
        "This answers the user's question fully and accurately in {n} words. It is well "
        "tailored, concise and shows solid knowledge, so every point of the rubric applies.",
        "Relevant, complete and direct. The answer is written from an assistant's perspective, "
        "stays on task and leaves nothing important out: an expert-quality reply.",
        "The reply addresses every part of the request with correct, concrete content and no "
        "extraneous material. It is well organised and engaging, meriting the full score.",
    ),
    ("good", 4): (
        "The response is relevant and answers the question directly and comprehensively, which "
        "earns four points. It is helpful, but the phrasing could be a little tighter, so it "
        "falls just short of the fifth point.",
        "It covers the request well and is organised like a good assistant reply. There is "
        "slight room to improve concision or focus, so I stop at four points.",
        "A correct, useful and complete answer in {n} words. It is clearly written, though not "
        "quite impeccable in how tightly it is tailored to the question.",
        "The answer resolves the user's question and is well structured, earning the first four "
        "points. A slightly more focused or insightful answer would earn the fifth.",
    ),
    ("partial", 3): (
        "The response starts well and gets the basic answer across, so it earns three points. "
        "It then trails off into generic filler instead of finishing, which rules out more.",
        "It answers the core of the question at the start, but the rest is "
        "non-committal padding. Useful for the basics, not comprehensive.",
        "Relevant, and it covers the main point, but part of the substance is missing and "
        "replaced by a vague remark. Three points for a basic but incomplete answer.",
    ),
    ("partial", 2): (
        "The opening is relevant and addresses part of the question, but the answer then "
        "drifts into a generic remark. It is not a full, useful answer.",
        "It makes a relevant start, then falls back on filler instead of the specifics the user "
        "asked for. Relevant and partly responsive, but clearly incomplete: two points.",
        "Only a small part of the request is covered (about {kept}% of what a complete answer "
        "needs). Two points: relevant, and it addresses a portion of the question.",
    ),
    ("vague", 1): (
        "The reply acknowledges the topic but gives no concrete information; it could be pasted "
        "under almost any question. It barely earns the first point.",
        "This is a non-committal, generic answer. It does not explain, list or solve anything "
        "the user asked for, so only one point for staying loosely on topic.",
        "It sounds polite but says nothing specific: no facts, steps or examples. One point at "
        "most, for relevance.",
        "Empty of substance. The response talks around the question without answering it, "
        "which earns only the first point.",
    ),
    ("truncated", 1): (
        "The response begins on topic but breaks off mid-sentence after {n} words, before "
        "reaching the actual answer. Relevant, but too incomplete for more than one point.",
        "It is cut off partway through, leaving most of the question unanswered. It earns the "
        "relevance point only.",
        "The answer stops abruptly in the middle of a sentence. What is there is related, but "
        "the user is left without a usable answer.",
    ),
    ("truncated", 2): (
        "The response is relevant and covers a good part of the answer, but it is cut off "
        "mid-sentence, so the question is not fully resolved. Two points.",
        "Much of the needed content is present, yet the text ends abruptly before finishing. "
        "It addresses a substantial portion but is not a complete, useful answer.",
        "Relevant and partly complete; it breaks off mid-sentence and the conclusion is missing, "
        "so it cannot earn the third point.",
    ),
    ("off_topic", 0): (
        'The response answers a different question ("{other}"), not the one the user asked. '
        "It is irrelevant to this request, so no points are awarded.",
        'None of this addresses the user\'s question; it reads like a reply to another prompt, "'
        '{other}". Score zero.',
        "Off topic: it gives information unrelated to what was requested. Since it is not "
        "relevant, even the first point cannot be given.",
        'It responds to something else entirely ("{other}") and ignores the user\'s actual '
        "instruction. No criteria are met.",
    ),
}


def build_eft(
    ift_rows: Sequence[dict], *, kinds: Iterable[str] = DEGRADATIONS, seed: int = 0
) -> list[dict]:
    """EFT rows (``load_eft`` format, with ``score`` and ``judgment``) built from IFT rows.

    One row per IFT row, id ``eft-<ift id>``, responses in a seeded shuffled order, each with
    its ``kind``. A kind that cannot be made for a row (``partial`` of a one-sentence answer,
    ``truncated`` of a very short one, ``off_topic`` without a second prompt) is left out; see
    :func:`eft_stats` for how many.
    """
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(DEGRADATIONS))
    if unknown:
        raise ValueError(f"unknown degradation kind(s) {unknown}; known: {list(DEGRADATIONS)}")
    rows = []
    for index, ift in enumerate(ift_rows):
        rng = random.Random(f"{seed}:{ift['id']}")
        responses = [r for kind in kinds if (r := _make(kind, index, ift_rows, rng)) is not None]
        rng.shuffle(responses)
        row = {"id": f"eft-{ift['id']}", "prompt": ift["prompt"], "responses": responses}
        row["source_id"] = ift["id"]
        if "category" in ift:
            row["category"] = ift["category"]
        rows.append(row)
    return rows


def _make(kind: str, index: int, rows: Sequence[dict], rng: random.Random) -> dict | None:
    """One graded response of ``kind`` for ``rows[index]``, or ``None`` when it cannot be made."""
    answer = rows[index]["response"]
    other, kept = "", 1.0
    if kind == "good":
        text, score = answer, _good_score(answer, rng)
    elif kind in ("partial", "truncated"):
        made = _partial(answer, rng) if kind == "partial" else _truncated(answer, rng)
        if made is None:
            return None
        text, score, kept = made
    elif kind == "vague":
        text, score = rng.choice(_VAGUE).replace("{topic}", _topic(rows[index]["prompt"])), 1
    else:
        donor = _off_topic_donor(index, rows, rng)
        if donor is None:
            return None
        text, score, other = donor["response"], 0, _short(donor["prompt"])
    judgment = _judgment(kind, score, text, kept, other, rng)
    return {"text": text, "score": score, "judgment": judgment, "kind": kind}


def _good_score(answer: str, rng: random.Random) -> int:
    # Draw first so that the stream of random numbers does not depend on the answer's length.
    marked_down = rng.random() < _GOOD_FOUR_SHARE
    return 4 if marked_down or _count_words(answer) > _LONG_ANSWER_WORDS else 5


def _partial(answer: str, rng: random.Random) -> tuple[str, int, float] | None:
    """The first sentences (at most half of them) plus a generic filler.

    3 points when at least 40 % of the answer's words survive ("answers the basic elements"),
    else 2 ("addresses a portion"). Returns ``(text, score, fraction kept)``.
    """
    sentences = _sentences(answer)
    if len(sentences) < 2:
        return None  # a one-sentence answer has no "rest" to leave out
    keep = rng.randint(1, len(sentences) // 2)
    raw = "".join(sentences[:keep])
    first = raw.strip()
    kept = _count_words(first) / _count_words(answer)
    # After a list item or code block the filler goes on a line of its own.
    joiner = "\n" if "\n" in raw else " "
    return f"{first}{joiner}{rng.choice(_FILLERS)}", 3 if kept >= 0.4 else 2, kept


def _sentences(text: str) -> list[str]:
    """``text`` split after sentence ends; a piece needs 3+ words (not just "Corrected:")."""
    fences = [m.span() for m in _CODE_FENCE.finditer(text)]
    pieces, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        if any(a < end.start() < b for a, b in fences):
            continue
        if _count_words(text[start : end.end()]) >= 3:
            pieces.append(text[start : end.end()])
            start = end.end()
    rest = text[start:]
    if rest.strip():
        if pieces and _count_words(rest) < 3:
            pieces[-1] += rest  # a short tail belongs to the sentence before it
        else:
            pieces.append(rest)
    return pieces


def _truncated(answer: str, rng: random.Random) -> tuple[str, int, float] | None:
    """The answer cut after 30-65 % of its words, never at a sentence end.

    2 points when at least half survives ("a substantial portion"), else 1.
    Returns ``(text, score, fraction kept)``.
    """
    words = list(_WORD.finditer(answer))
    if len(words) < _MIN_WORDS_TO_TRUNCATE:
        return None
    keep = max(3, int(len(words) * rng.uniform(0.30, 0.65)))
    # A cut right after "." would look like a finished answer; move on to a mid-sentence word.
    while keep < len(words) - 1 and words[keep - 1].group().endswith((".", "!", "?", ":")):
        keep += 1
    kept = keep / len(words)
    return answer[: words[keep - 1].end()], 2 if kept >= 0.5 else 1, kept


def _off_topic_donor(index: int, rows: Sequence[dict], rng: random.Random) -> dict | None:
    """Another row whose answer serves as an off-topic response; another category if possible.

    A few seeded random draws find one almost always; the full scan after them only runs for
    tiny or one-category inputs, so building stays linear in the number of rows.
    """
    mine = rows[index]

    def unrelated(r: dict, strict: bool) -> bool:
        # An answer from the same category can half-answer the prompt (two arithmetic
        # problems); a different category makes "0: irrelevant" true.
        if strict and "category" in mine and r.get("category") == mine["category"]:
            return False
        return (
            r["prompt"].strip() != mine["prompt"].strip()
            and r["response"].strip() != mine["response"].strip()
        )

    for _ in range(_DONOR_DRAWS):
        candidate = rows[rng.randrange(len(rows))]
        if unrelated(candidate, strict=True):
            return candidate
    for strict in (True, False):
        pool = [r for r in rows if unrelated(r, strict)]
        if pool:
            return rng.choice(pool)
    return None


def _judgment(
    kind: str, score: int, text: str, kept: float, other: str, rng: random.Random
) -> str:
    """A short rubric-based justification that ends with ``Score: N`` on its own line."""
    wording = rng.choice(_JUDGMENTS[(kind, score)])
    # str.replace, not str.format: {other} is a user prompt and may contain braces; it is
    # filled last so that its text is never scanned for the other slots.
    body = (
        wording.replace("{n}", str(_count_words(text)))
        .replace("{kept}", str(round(100 * kept)))
        .replace("{other}", other)
    )
    return f"{body}\nScore: {score}"


def _count_words(text: str) -> int:
    return len(_WORD.findall(text))


def _short(prompt: str, max_words: int = 10) -> str:
    """The prompt's first sentence, at most ``max_words`` words, for quoting in a judgment."""
    first_line = prompt.strip().splitlines()[0]
    words = re.split(r"(?<=[.!?])\s", first_line, maxsplit=1)[0].split()
    head = " ".join(words[:max_words])
    return head + "..." if len(words) > max_words else head


def _topic(prompt: str) -> str:
    """A lower-cased prompt head without end punctuation, to slot into a vague answer."""
    head = _short(prompt, 8).rstrip(".?!:;,")
    if head[1:2].islower():  # "Why is..." -> "why is...", but keep "DNS" or "I" as written
        head = head[:1].lower() + head[1:]
    return f'"{head}"'


def split_heldout(rows: Sequence[dict], fraction: float, seed: int) -> tuple[list, list]:
    """Split rows into ``(train, heldout)``; ``round(fraction * len(rows))`` rows are held out.

    The choice is seeded and keyed by row id, so it does not depend on the input order; each
    part keeps the input order.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"heldout fraction must be in [0, 1), got {fraction}")
    ids = sorted(row["id"] for row in rows)
    random.Random(seed).shuffle(ids)
    held = set(ids[: round(fraction * len(rows))])
    train = [row for row in rows if row["id"] not in held]
    heldout = [row for row in rows if row["id"] in held]
    return train, heldout


def judge_sft_rows(eft_rows: Iterable[dict], template_text: str) -> list[dict]:
    """SFT rows ``{"id", "prompt": <filled judge prompt>, "response": <judgment>}``.

    One row per response that has a ``judgment`` (ranked responses without one are skipped).
    The template's ``{prompt}`` and ``{response}`` are filled in one pass by
    :func:`srlm.judging.templates.fill`, never ``str.format``: model text contains braces, and
    a sequential ``str.replace`` would also rewrite a literal ``{response}`` inside the prompt.
    """
    out = []
    for row in eft_rows:
        for i, resp in enumerate(row["responses"]):
            if "judgment" not in resp:
                continue
            prompt = fill(template_text, prompt=row["prompt"], response=resp["text"])
            sft = {"id": f"{row['id']}-{i}", "prompt": prompt, "response": resp["judgment"]}
            if "kind" in resp:
                sft["kind"] = resp["kind"]
            out.append(sft)
    return out


def eft_stats(rows: Sequence[dict], kinds: Iterable[str] = DEGRADATIONS) -> dict:
    """Counts for ``stats.json``: rows, responses, per kind, score histogram, kinds left out.

    ``missing`` counts, per requested kind, the rows that have no response of that kind.
    """
    per_kind: Counter[str] = Counter()
    scores: Counter[str] = Counter()
    for row in rows:
        for resp in row["responses"]:
            per_kind[resp.get("kind", "unknown")] += 1
            if "score" in resp:
                scores[str(resp["score"])] += 1
    missing = {k: sum(all(r.get("kind") != k for r in row["responses"]) for row in rows)
               for k in kinds}
    return {
        "rows": len(rows),
        "responses": sum(per_kind.values()),
        "per_kind": dict(sorted(per_kind.items())),
        "score_histogram": dict(sorted(scores.items())),
        "missing": missing,
    }
