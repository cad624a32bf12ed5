"""The model-written texts the report shows side by side, read from a run directory.

Two sources, both written by the evaluation and never trained on:

- the head-to-head (``eval.win_rate_prompts`` > 0): ``M<t>/win_rate_answers.jsonl`` (one greedy
  answer per held-out IFT prompt, M1's included) and ``M<t>/win_rate_judgments.jsonl`` (the
  judge's verdicts of M<t> against M1, both orders, with their texts);
- the judge evaluation: ``M<t>/eval_judgments.jsonl`` (each model's judgments of the same
  held-out EFT responses) and ``data/eft_heldout.jsonl`` (those responses and the human scores).

Only the first few prompts are kept (the files can be long); an unreadable line is noted in
``problems`` and skipped, as everywhere in the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ANSWER_PROMPTS = 3  # held-out IFT prompts whose answers are shown side by side
JUDGED_PROMPTS = 2  # held-out EFT prompts whose judgments are shown side by side


@dataclass
class Texts:
    """Rows of the chosen prompts only, by model t and prompt (or response) id."""

    answers: dict[int, dict[str, dict]] = field(default_factory=dict)  # t -> prompt id -> answer row
    verdicts: dict[int, dict[str, list[dict]]] = field(default_factory=dict)  # t -> prompt id -> judgment rows
    judged: dict[int, dict[str, dict]] = field(default_factory=dict)  # t -> response id -> eval judgment row
    heldout: dict[str, dict] = field(default_factory=dict)  # prompt id -> data/eft_heldout.jsonl row


def read_texts(root: Path, models: list[int], problems: list[str]) -> Texts:
    """The texts of the first ``ANSWER_PROMPTS`` head-to-head and ``JUDGED_PROMPTS`` EFT prompts."""
    texts = Texts()
    answer_files = [root / f"M{t}" / "win_rate_answers.jsonl" for t in models]
    chosen = _first_ids(answer_files, "id", ANSWER_PROMPTS)
    for t, path in zip(models, answer_files):
        if rows := {r["id"]: r for r in json_rows(path, problems) if r.get("id") in chosen}:
            texts.answers[t] = rows
        for row in json_rows(root / f"M{t}" / "win_rate_judgments.jsonl", problems):
            if row.get("prompt_id") in chosen:
                texts.verdicts.setdefault(t, {}).setdefault(row["prompt_id"], []).append(row)
    judged_files = [root / f"M{t}" / "eval_judgments.jsonl" for t in models]
    judged_prompts = _first_ids(judged_files, "prompt_id", JUDGED_PROMPTS)
    for t, path in zip(models, judged_files):
        if rows := {str(r.get("id")): r for r in json_rows(path, problems) if r.get("prompt_id") in judged_prompts}:
            texts.judged[t] = rows
    if texts.judged:
        texts.heldout = {r["id"]: r for r in json_rows(root / "data" / "eft_heldout.jsonl", problems) if r.get("id") in judged_prompts}
    return texts


def _first_ids(paths: list[Path], key: str, count: int) -> list[str]:
    """The first ``count`` distinct values of ``key`` in the first of ``paths`` that has any
    (bad lines are noted when the file is read in full, not here)."""
    for path in paths:
        ids: list[str] = []
        for row in json_rows(path, []):
            if isinstance(row.get(key), str) and row[key] not in ids:
                ids.append(row[key])
                if len(ids) == count:
                    break
        if ids:
            return ids
    return []


def json_rows(path: Path, problems: list[str]) -> Iterator[dict]:
    """The JSON object rows of a JSONL file (none if it is absent); bad lines are noted."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                problems.append(f"{path}:{number}: not JSON")
                continue
            if isinstance(row, dict):
                yield row
