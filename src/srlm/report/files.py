"""Reading a run directory for the report, and the safe accessors its sections use.

``read_run`` collects ``config.yaml``, ``M<t>/eval.json``, ``M<t>/train.json``, the training log
``M<t>/trainer_state.json`` (transformers' ``TrainerState``: its ``log_history``),
``iter<t>/stats.json``, a few rows of ``iter<t>/(judge_)pairs.jsonl`` and the texts shown side by
side (``texts``) into one ``RunFiles``; a file that is absent is an absent
key, and a file that exists but cannot be read is noted in ``RunFiles.problems``, never raised.
The value helpers (``section``, ``num``, ``first_num``, ``fmt``, ``ratio``) read those files
defensively, because stats files come from many versions of the stages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlm.report.texts import Texts, json_rows, read_texts

PAIR_FILES = ("pairs.jsonl", "judge_pairs.jsonl")  # actor pairs; Meta-Rewarding's judge pairs
EXAMPLES_PER_KIND = 2  # example pairs shown per iteration and pair kind (actor, judge)


@dataclass
class RunFiles:
    """What the run directory holds so far; absent files are simply absent keys."""

    root: Path
    config: dict
    models: list[int]  # t of every M<t>/ folder
    iterations: list[int]  # t of every iter<t>/ folder
    evals: dict[int, dict] = field(default_factory=dict)  # t -> M<t>/eval.json
    stats: dict[int, dict] = field(default_factory=dict)  # t -> iter<t>/stats.json
    examples: dict[int, list[dict]] = field(default_factory=dict)  # t -> a few rows of PAIR_FILES
    train: dict[int, dict] = field(default_factory=dict)  # t -> M<t>/train.json
    logs: dict[int, list[dict]] = field(default_factory=dict)  # t -> log_history of M<t>'s trainer_state.json
    texts: Texts = field(default_factory=Texts)
    problems: list[str] = field(default_factory=list)  # files that exist but could not be read


def read_run(root: Path) -> RunFiles:
    """Everything the report needs from ``root``; unreadable files are noted, not raised."""
    run = RunFiles(root, _read_config(root), _numbered(root, "M"), _numbered(root, "iter"))
    for t in run.models:
        data = _read_json(root / f"M{t}" / "eval.json", run.problems)
        if isinstance(data, dict):
            run.evals[t] = data
        data = _read_json(root / f"M{t}" / "train.json", run.problems)
        if isinstance(data, dict):
            run.train[t] = data
        if (history := _log_history(root / f"M{t}", run.problems)) is not None:
            run.logs[t] = history
    for t in run.iterations:
        data = _read_json(root / f"iter{t}" / "stats.json", run.problems)
        if isinstance(data, dict):
            run.stats[t] = data
        for name in PAIR_FILES:
            if (root / f"iter{t}" / name).is_file():
                run.examples.setdefault(t, []).extend(_example_rows(root / f"iter{t}" / name, run.problems))
    run.texts = read_texts(root, run.models, run.problems)
    return run


TRAINER_STATES = ("trainer_state.json", "trainer/trainer_state.json")  # where a model's training log may be


def _log_history(model_dir: Path, problems: list[str]) -> list[dict] | None:
    """The ``log_history`` entries (dicts) of the model's ``trainer_state.json``, if it has one."""
    for name in TRAINER_STATES:
        state = _read_json(model_dir / name, problems)
        if isinstance(state, dict) and isinstance(state.get("log_history"), list):
            return [entry for entry in state["log_history"] if isinstance(entry, dict)]
        if state is not None:
            problems.append(f"{model_dir / name}: no log_history list")
            return None
    return None


def _numbered(root: Path, prefix: str) -> list[int]:
    """The t of every folder named ``<prefix><t>``, in numeric order (M10 after M9)."""
    pattern = re.compile(rf"{prefix}(\d+)")
    found = (pattern.fullmatch(p.name) for p in root.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def _read_config(root: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path}: {exc}")
        return None


def _example_rows(path: Path, problems: list[str]) -> list[dict]:
    """The first ``EXAMPLES_PER_KIND`` rows of each pair kind; bad lines are skipped and noted."""
    chosen: list[dict] = []
    per_kind: dict[str, int] = {}
    for row in json_rows(path, problems):
        kind = str(row.get("kind", "actor"))
        if per_kind.get(kind, 0) < EXAMPLES_PER_KIND:
            per_kind[kind] = per_kind.get(kind, 0) + 1
            chosen.append(row)
    return chosen


# ---------------------------------------------------------------------------------------------
# Safe access and formatting: stats files come from many versions of the stages


def section(stats: dict, name: str) -> dict:
    """``stats[name]`` if it is a dict, else an empty dict."""
    value = stats.get(name) if isinstance(stats, dict) else None
    return value if isinstance(value, dict) else {}


def num(value: Any) -> float | None:
    """A number, or ``None`` for anything else (bools, strings, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def first_num(data: dict, *paths: str) -> float | None:
    """The first numeric value among dotted ``paths`` (several spellings of one count)."""
    for path in paths:
        value: Any = data
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if num(value) is not None:
            return value
    return None


def fmt(value: Any) -> str:
    """Integers as they are, floats with 3 decimals (1 from 10 up, exponent below 0.001), missing as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value and abs(value) < 0.001:
            return f"{value:.2e}"  # a learning rate is not 0.000
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, list) and all(num(v) is not None for v in value):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def ratio(part: float | None, whole: float | None) -> float | None:
    """``part / whole``, or ``None`` when either is missing or ``whole`` is 0."""
    return part / whole if part is not None and whole else None


def iterations_with(run: RunFiles, name: str) -> list[int]:
    """Iterations whose stats.json has section ``name``."""
    return [t for t in sorted(run.stats) if section(run.stats[t], name)]
