"""Report sections about what the stages produced: response lengths, prompts and pairs kept and
dropped (by reason), a few example pairs, and every number recorded in the stats files.

Each section function takes the ``RunFiles`` and returns its blocks; a section whose files are
not there yet says so (``render.missing``) instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

from srlm.report import plots
from srlm.report.files import RunFiles, first_num, fmt, iterations_with, num, section
from srlm.report.render import Example, Plot, Table, Text, missing

EXAMPLE_CHARS = 1500  # longer texts are cut in the report (the full text is in pairs.jsonl)


def lengths(run: RunFiles) -> list:
    """Mean response lengths per iteration: length growth shows here."""
    ts = sorted(set(iterations_with(run, "candidates")) | set(iterations_with(run, "pairs")))
    if not ts:
        return missing("no iter*/stats.json with candidates or pairs yet")
    unit = str(section(run.config, "pairs").get("length_unit", "tokens"))
    cands = {t: section(run.stats[t], "candidates") for t in ts}
    pairs = {t: section(run.stats[t], "pairs") for t in ts}
    rows = [[f"iter{t}", fmt(num(cands[t].get("mean_length_tokens"))), fmt(num(cands[t].get("mean_length_chars"))),
             fmt(num(pairs[t].get("mean_chosen_length"))), fmt(num(pairs[t].get("mean_rejected_length")))] for t in ts]
    panels = {
        "Candidates: mean length": {"all candidates": [num(cands[t].get("mean_length_tokens")) for t in ts]},
        "Pairs: mean length": {"chosen": [num(pairs[t].get("mean_chosen_length")) for t in ts],
                               "rejected": [num(pairs[t].get("mean_rejected_length")) for t in ts]},
    }
    blocks: list = [Table(["iteration", "candidates (tokens)", "candidates (chars)", f"chosen ({unit})", f"rejected ({unit})"], rows)]
    if png := plots.lines([f"iter{t}" for t in ts], panels, {"Candidates: mean length": "tokens", "Pairs: mean length": unit}, zero=True):
        blocks.append(Plot("lengths", "Candidates of iteration t are sampled from M(t); a rising line is length growth. "
                           "The axes start at 0, so a change of a few tokens looks as small as it is.", png))
    return blocks


def _kept_and_dropped(run: RunFiles, name: str, kept_keys: tuple[str, ...], kept_label: str) -> tuple[list[int], dict[str, list]]:
    """Iterations with section ``name`` and the stacked parts: kept, then each drop reason."""
    ts = iterations_with(run, name)
    parts: dict[str, list] = {kept_label: [first_num(section(run.stats[t], name), *kept_keys) for t in ts]}
    reasons = sorted({r for t in ts for r in _drops(section(run.stats[t], name))})
    for reason in reasons:
        parts[f"dropped: {reason}"] = [num(_drops(section(run.stats[t], name)).get(reason)) or 0 for t in ts]
    return ts, parts


def _drops(stats_section: dict) -> dict:
    dropped = stats_section.get("dropped")
    return {str(k): v for k, v in dropped.items() if num(v) is not None} if isinstance(dropped, dict) else {}


def kept_dropped_section(run: RunFiles, name: str, kept_keys: tuple[str, ...], extra: tuple[str, ...], title: str, caption: str) -> list:
    """Table and stacked bars of what one stage kept and dropped (by reason) per iteration."""
    ts, parts = _kept_and_dropped(run, name, kept_keys, "judge pairs kept" if name == "meta" else "kept")
    if not ts:
        return missing(f"no iter*/stats.json with a '{name}' section yet")
    headers = ["iteration"] + list(parts) + list(extra)
    rows = [[f"iter{t}"] + [fmt(values[i]) for values in parts.values()] + [fmt(num(section(run.stats[t], name).get(k))) for k in extra]
            for i, t in enumerate(ts)]
    blocks: list = [Table(headers, rows)]
    if png := plots.stacked_bars([f"iter{t}" for t in ts], parts, title, "count"):
        blocks.append(Plot(name if name != "meta" else "meta_pairs", caption, png))
    return blocks


def prompts(run: RunFiles) -> list:
    return kept_dropped_section(run, "prompts", ("kept",), ("generated", "rounds"), "Generated prompts: kept and dropped",
                                "Self-instruction: generated prompts kept, and dropped by filter reason.")


def pairs(run: RunFiles) -> list:
    return kept_dropped_section(run, "pairs", ("kept",), ("prompts", "length_rho", "mean_chosen_score", "mean_rejected_score"),
                                "Preference pairs: kept and dropped", "One pair per prompt at most; prompts whose candidates tie or lack scores are dropped.")


def examples(run: RunFiles) -> list:
    """A few pairs from each iteration's pairs.jsonl (and judge_pairs.jsonl), with their numbers."""
    if not any(run.examples.values()):
        return missing("no iter*/pairs.jsonl yet")
    blocks: list = []
    for t, rows in sorted(run.examples.items()):
        for k, row in enumerate(rows, start=1):
            summary = f"kind {row.get('kind', 'actor')}; " + "; ".join(f"{side} {_pair_numbers(row, side)}" for side in ("chosen", "rejected"))
            fields = [(label, _cut(row.get(key))) for label, key in (("Prompt", "prompt"), ("Chosen", "chosen"), ("Rejected", "rejected")) if key in row]
            blocks.append(Example(f"iter{t}, pair {k}: {row.get('prompt_id', '?')}", summary, fields))
    return blocks


def _pair_numbers(row: dict, side: str) -> str:
    """'score 4.500, length 12' for one side of a pair (judge pairs carry an Elo, not a score)."""
    parts = [f"{name} {fmt(num(row.get(f'{side}_{name}')))}" for name in ("score", "elo", "length") if f"{side}_{name}" in row]
    return ", ".join(parts) or "no numbers recorded"


def _cut(text: Any) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + f" [... {len(text) - EXAMPLE_CHARS} more characters]"


def all_numbers(run: RunFiles) -> list:
    """Every number in every stats.json section, one table per section (new keys show up here)."""
    names = list(dict.fromkeys(name for t in sorted(run.stats) for name in run.stats[t]))
    if not names:
        return missing("no iter*/stats.json yet")
    blocks: list = []
    for name in names:
        ts = iterations_with(run, name)
        flat = {t: _flatten(section(run.stats[t], name)) for t in ts}
        keys = list(dict.fromkeys(k for t in ts for k in flat[t]))
        blocks += [Text(f"stats.json section '{name}':"), Table(["key"] + [f"iter{t}" for t in ts], [[k] + [fmt(flat[t].get(k)) for t in ts] for k in keys])]
    return blocks


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool)) or value is None or (isinstance(value, list) and all(num(v) is not None for v in value)):
            flat[f"{prefix}{key}"] = value
    return flat

