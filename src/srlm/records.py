"""The rows that stages exchange, as types: one module, so a reader sees every file's shape.

Each type is the shape of one line of a run file (see the README's run-directory listing).
They are ``TypedDict``s, so a row is still the plain ``dict`` that ``json`` reads and writes:
files stay byte-for-byte what they were, and a type checker sees the keys.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

# ---------------------------------------------------------------------------------------------
# Seed data (``<run>/data/``)


class InstructionRow(TypedDict):
    """An IFT row: a prompt and a reference response (``ift.jsonl``, ``ift_heldout.jsonl``)."""

    id: str
    prompt: str
    response: str


class RankedResponse(TypedDict, total=False):
    """One response of an EFT prompt with its human label: a rank (0 = best) or a score."""

    text: str
    rank: int
    score: float


class RankedPrompt(TypedDict):
    """An EFT row: a prompt and several labelled responses (``eft_train.jsonl``, ``eft_heldout.jsonl``)."""

    id: str
    prompt: str
    responses: list[RankedResponse]


class Message(TypedDict):
    """One chat message, as ``tokenizer.apply_chat_template`` and TRL read it."""

    role: str
    content: str


class SFTRow(TypedDict):
    """One supervised example for M1 (``sft.jsonl``); ``kind`` is ift, eft or meta.

    TRL's *conversational prompt-completion* format, so ``SFTTrainer`` (or ``datasets``'
    ``load_dataset("json", ...)`` feeding it) reads the file as is: the user turn as the prompt,
    the assistant turn as the completion, the loss on the completion only (SR section 2.2).
    """

    prompt: list[Message]
    completion: list[Message]
    kind: NotRequired[str]


class SeedBundle(TypedDict):
    """The seed files of a run, as ``stages.seed_data.run`` returns them."""

    ift: list[InstructionRow]
    ift_heldout: list[InstructionRow]
    eft_train: list[RankedPrompt]
    eft_heldout: list[RankedPrompt]
    sft: list[SFTRow]


# ---------------------------------------------------------------------------------------------
# One iteration (``<run>/iter<t>/``), in the order the stages write them


class RawPromptRow(TypedDict):
    """A generated prompt before filtering (``prompts_raw.jsonl``)."""

    id: str
    round: int
    fewshot_ids: list[str]
    raw: str


class PromptRow(TypedDict):
    """A kept new prompt (``prompts.jsonl``)."""

    id: str
    prompt: str
    source_id: str
    fewshot_ids: list[str]


class CandidateRow(TypedDict):
    """One sampled response of M(t) to a new prompt (``candidates.jsonl``)."""

    id: str
    prompt_id: str
    prompt: str
    sample: int
    response: str


class JudgeItem(TypedDict):
    """What the judge is asked about: one response to one prompt."""

    id: str
    prompt_id: str
    prompt: str
    response: str


class JudgmentRow(TypedDict):
    """The judge's samples for one item (``judgments.jsonl``, ``M<t>/eval_judgments.jsonl``).

    ``scores`` are the written digits (``None`` = unparsed); ``expected_scores`` appear with
    ``judge.scoring: expected`` or the expected-score fallback.
    """

    id: str
    prompt_id: str
    judgments: list[str]
    scores: list[float | None]
    mean_score: float | None
    expected_scores: NotRequired[list[float | None]]


class MetaJudgmentRow(TypedDict):
    """One meta-judge verdict on two judgments of one response (``meta_judgments.jsonl``)."""

    id: str
    prompt_id: str
    candidate_id: str
    first: int
    second: int
    meta_judgment: str
    verdict: Literal["A", "B"] | None


class PairRow(TypedDict):
    """An actor preference pair for DPO (``pairs.jsonl``)."""

    prompt_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    chosen_length: int
    rejected_length: int
    kind: Literal["actor"]


class JudgePairRow(TypedDict):
    """A judge preference pair (Meta-Rewarding, ``judge_pairs.jsonl``): two judgments ranked by Elo."""

    prompt_id: str
    candidate_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_elo: float
    rejected_elo: float
    chosen_judgment_score: float
    rejected_judgment_score: float
    chosen_length: int
    rejected_length: int
    kind: Literal["judge"]
    prompt_length: int


class PositiveRow(TypedDict):
    """A top-scored response kept as an SFT row (``positives.jsonl``, the positive-only ablation)."""

    prompt_id: str
    prompt: str
    response: str
    score: float


TrainingRow = PairRow | JudgePairRow | PositiveRow


class PreferenceRow(TypedDict):
    """A preference pair as DPO trains on it (``iter<t>/dpo.jsonl``): TRL's *conversational*
    preference format (the prompt a list of messages, chosen/rejected assistant messages), so
    ``DPOTrainer`` applies the chat template exactly as srlm's training does. ``pairs.jsonl`` and
    ``judge_pairs.jsonl`` keep the same texts as plain strings with their scores."""

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    prompt_id: str
    kind: Literal["actor", "judge"]


def sft_row(prompt: str, response: str, kind: str | None = None) -> SFTRow:
    """A prompt and its target response as an SFT row.

    >>> sft_row("Hi?", "Hello.", "ift")
    {'prompt': [{'role': 'user', 'content': 'Hi?'}], 'completion': [{'role': 'assistant', 'content': 'Hello.'}], 'kind': 'ift'}
    """
    row: SFTRow = {"prompt": [{"role": "user", "content": prompt}], "completion": [{"role": "assistant", "content": response}]}
    if kind is not None:
        row["kind"] = kind
    return row


def as_sft_row(row: dict) -> SFTRow:
    """An SFT row from one in TRL's form, or from a ``{"prompt", "response"}`` row (a positive,
    an IFT row, or ``sft.jsonl`` of a run made before the file took TRL's form)."""
    if "completion" in row:
        return row  # type: ignore[return-value]
    return sft_row(row["prompt"], row["response"], row.get("kind"))


def preference_row(pair: PairRow | JudgePairRow) -> PreferenceRow:
    """A pair of ``pairs.jsonl`` / ``judge_pairs.jsonl`` in TRL's conversational preference format."""
    return {
        "prompt": [{"role": "user", "content": pair["prompt"]}],
        "chosen": [{"role": "assistant", "content": pair["chosen"]}],
        "rejected": [{"role": "assistant", "content": pair["rejected"]}],
        "prompt_id": pair.get("prompt_id", ""),
        "kind": pair.get("kind", "actor"),
    }
