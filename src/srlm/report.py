"""``srlm report RUN_DIR``: an HTML page and a Markdown summary of one run, from its files only.

Reads ``config.yaml``, ``M<t>/eval.json``, ``iter<t>/stats.json`` and ``iter<t>/(judge_)pairs.jsonl``
and writes ``report.html`` (self-contained: plots inline as base64 PNG) and ``report.md`` (plots
in ``report_files/``). It is meant to be run on unfinished runs too: a missing file or key makes
its section say "not yet available", never an error. The plots are there to show the failure
modes of ALGORITHM.md section 2: judge scores saturating at 5, response length growing each
iteration, judgments that do not parse, and a meta-judge that prefers the first position.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from srlm import report_plots as plots
from srlm.errors import UserError
from srlm.report_render import Example, Plot, Section, Table, Text, render_html, render_markdown
from srlm.rundir import model_done, write_text

log = logging.getLogger("srlm")

IMAGE_DIR = "report_files"
PAIR_FILES = ("pairs.jsonl", "judge_pairs.jsonl")  # actor pairs; Meta-Rewarding's judge pairs
JUDGE_METRICS = ("pairwise_accuracy", "exact_match", "five_best", "spearman", "kendall", "parse_rate", "share_top_score")
EXAMPLES_PER_KIND = 2  # example pairs shown per iteration and pair kind (actor, judge)
EXAMPLE_CHARS = 1500  # longer texts are cut in the report (the full text is in pairs.jsonl)


# ---------------------------------------------------------------------------------------------
# Reading the run


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
    problems: list[str] = field(default_factory=list)  # files that exist but could not be read


def read_run(root: Path) -> RunFiles:
    """Everything the report needs from ``root``; unreadable files are noted, not raised."""
    run = RunFiles(root, _read_config(root), _numbered(root, "M"), _numbered(root, "iter"))
    for t in run.models:
        data = _read_json(root / f"M{t}" / "eval.json", run.problems)
        if isinstance(data, dict):
            run.evals[t] = data
    for t in run.iterations:
        data = _read_json(root / f"iter{t}" / "stats.json", run.problems)
        if isinstance(data, dict):
            run.stats[t] = data
        for name in PAIR_FILES:
            if (root / f"iter{t}" / name).is_file():
                run.examples.setdefault(t, []).extend(_example_rows(root / f"iter{t}" / name, run.problems))
    return run


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
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                problems.append(f"{path}:{number}: not JSON")
                continue
            if not isinstance(row, dict):
                continue
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
    """Integers as they are, floats with 3 decimals (1 from 10 up), missing as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, list) and all(num(v) is not None for v in value):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def ratio(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def _missing(what: str) -> list:
    return [Text(f"Not yet available: {what}.")]


def _iters(run: RunFiles, name: str) -> list[int]:
    """Iterations whose stats.json has section ``name``."""
    return [t for t in sorted(run.stats) if section(run.stats[t], name)]


# ---------------------------------------------------------------------------------------------
# Sections


def overview(run: RunFiles) -> list:
    """Run name and method, and which files exist for each model and iteration."""
    blocks: list = [Text(f"Run directory: {run.root}. Method: {run.config.get('method', 'unknown')}; "
                         f"planned iterations: {run.config.get('iterations', 'unknown')}. "
                         "Every number below is read from the run's files.")]
    rows = []
    for t in run.models:
        rows.append([f"M{t}", "complete" if model_done(run.root / f"M{t}" / "model") else "not complete",
                     "yes" if t in run.evals else "no", "", ""])
    for t in run.iterations:
        rows.append([f"iter{t}", "", "", ", ".join(run.stats.get(t, {})) or "none", "yes" if t in run.examples else "no"])
    blocks.append(Table(["step", "checkpoint", "eval.json", "stats.json sections", "pairs.jsonl"], rows))
    if run.problems:
        blocks.append(Text("Files that could not be read: " + "; ".join(run.problems)))
    return blocks


def key_numbers(run: RunFiles) -> list:
    """One row per iteration with the numbers a reader checks first."""
    if not run.stats:
        return _missing("no iter*/stats.json yet")
    headers = ["iteration", "prompts kept / generated", "candidates", "mean length (tokens)", "judge parse rate",
               "mean score", "share of 5s", "pairs kept", "pairs dropped", "mean chosen score", "mean rejected score"]
    rows = []
    for t in sorted(run.stats):
        s = run.stats[t]
        prompts, cands, judged, pairs = (section(s, k) for k in ("prompts", "candidates", "judgments", "pairs"))
        rows.append([f"iter{t} (M{t})", f"{fmt(num(prompts.get('kept')))} / {fmt(num(prompts.get('generated')))}",
                     fmt(num(cands.get("candidates"))), fmt(num(cands.get("mean_length_tokens"))),
                     fmt(num(judged.get("parse_rate"))), fmt(num(judged.get("mean_score"))), fmt(share_at(judged, "5")),
                     fmt(num(pairs.get("kept"))), fmt(_dropped_total(pairs)),
                     fmt(num(pairs.get("mean_chosen_score"))), fmt(num(pairs.get("mean_rejected_score")))])
    return [Table(headers, rows)]


def _dropped_total(stats_section: dict) -> int | None:
    dropped = stats_section.get("dropped")
    if not isinstance(dropped, dict):
        return None
    return sum(v for v in dropped.values() if num(v) is not None)


def judge_metrics(run: RunFiles) -> list:
    """M<t> as a judge on held-out EFT data: a table and one bar group per metric."""
    judged = {t: section(run.evals[t], "judge") for t in sorted(run.evals) if section(run.evals[t], "judge")}
    if not judged:
        return _missing("no M*/eval.json with judge metrics yet")
    table = Table(["model"] + list(JUDGE_METRICS) + ["mean judge score", "responses"],
                  [[f"M{t}"] + [fmt(num(m.get(k))) for k in JUDGE_METRICS]
                   + [fmt(num(m.get("mean_judge_score"))), fmt(num(m.get("n_responses")))] for t, m in judged.items()])
    png = plots.grouped_bars(list(JUDGE_METRICS), {f"M{t}": [num(m.get(k)) for k in JUDGE_METRICS] for t, m in judged.items()},
                             "Judge metrics by model (held-out EFT)", "value", ylim=(min(0.0, _lowest(judged)), 1.05))
    blocks: list = [table]
    if png:
        blocks.append(Plot("judge_metrics", "Reward-model metrics of each model as a judge; correlations can be negative. "
                           "share_top_score rising towards 1 means the judge saturates at 5.", png))
    return blocks


def _lowest(judged: dict[int, dict]) -> float:
    values = [num(m.get(k)) for m in judged.values() for k in JUDGE_METRICS]
    return min([v for v in values if v is not None] or [0.0]) - 0.05


def win_rate_entries(evaluation: dict) -> list[tuple[str, dict]]:
    """(comparison, outcome) for every ``win_rate*`` key; a dict of comparisons is opened one level.

    >>> win_rate_entries({"win_rate_vs_M1": {"wins": 3}, "win_rates": {"vs_ref": {"score": 0.5}}, "judge": {}})
    [('vs M1', {'wins': 3}), ('vs ref', {'score': 0.5})]
    """
    def is_outcome(d: Any) -> bool:
        return isinstance(d, dict) and any(k in d for k in ("wins", "win_rate", "score"))

    entries = []
    for key, value in evaluation.items():
        if not key.startswith("win_rate") or not isinstance(value, dict):
            continue
        if is_outcome(value):
            entries.append((key.removeprefix("win_rate").strip("_") or key, value))
        else:
            entries += [(str(sub), v) for sub, v in value.items() if is_outcome(v)]
    return [(name.replace("_", " "), outcome) for name, outcome in entries]


def outcome_shares(outcome: dict) -> tuple[float, float, float] | None:
    """Win, tie and loss shares from the counts, or from the stored rates."""
    counts = [num(outcome.get(k)) for k in ("wins", "ties", "losses")]
    if all(c is not None for c in counts) and sum(counts):
        return tuple(c / sum(counts) for c in counts)  # type: ignore[return-value]
    rates = [num(outcome.get(k)) for k in ("win_rate", "tie_rate", "loss_rate")]
    if rates[0] is None:
        return None
    return rates[0], rates[1] or 0.0, rates[2] if rates[2] is not None else 1 - rates[0] - (rates[1] or 0.0)


def win_rates(run: RunFiles) -> list:
    """Head-to-head results stored in eval.json, when the run measured them."""
    if not run.evals:
        return _missing("no M*/eval.json yet")
    entries = [(t, name, o) for t in sorted(run.evals) for name, o in win_rate_entries(run.evals[t])]
    if not entries:
        return [Text("Not measured: no M*/eval.json has a win_rate entry (head-to-head evaluation was not run).")]
    rows, labels, shares, scores = [], [], [], []
    for t, name, o in entries:
        label = f"M{t} {name}"
        ci = o.get("score_ci") if isinstance(o.get("score_ci"), list) and len(o["score_ci"]) == 2 and all(num(v) is not None for v in o["score_ci"]) else None
        rows.append([label] + [fmt(num(o.get(k))) for k in ("wins", "ties", "losses", "win_rate", "score")] + [fmt(ci)])
        if (share := outcome_shares(o)) is not None:
            labels.append(label)
            shares.append(share)
            scores.append((num(o.get("score")), ci))
    blocks: list = [Table(["comparison", "wins", "ties", "losses", "win rate", "score", "score 95% CI"], rows)]
    if png := plots.win_rates(labels, shares, scores):
        blocks.append(Plot("win_rates", "Win / tie / loss shares; diamonds: score = (wins + ties/2) / n with its bootstrap interval.", png))
    return blocks


def share_at(judgments: dict, score: str) -> float | None:
    """Share of parsed judgments with this score, from the histogram."""
    histogram = judgments.get("histogram")
    if not isinstance(histogram, dict):
        return None
    total = sum(v for v in histogram.values() if num(v) is not None)
    return ratio(num(histogram.get(score)), total)


def score_histograms(run: RunFiles) -> list:
    """Judge score histograms per iteration: saturation at 5 shows here."""
    ts = [t for t in _iters(run, "judgments") if isinstance(section(run.stats[t], "judgments").get("histogram"), dict)]
    if not ts:
        return _missing("no iter*/stats.json with a judgments histogram yet")
    scores = [str(k) for k in range(6)]
    hists = {t: section(run.stats[t], "judgments")["histogram"] for t in ts}
    rows = [[f"iter{t}"] + [fmt(num(h.get(s))) for s in scores] + [fmt(share_at(section(run.stats[t], "judgments"), "5"))] for t, h in hists.items()]
    series = {f"iter{t} (M{t} judging)": [share_at(section(run.stats[t], "judgments"), s) for s in scores] for t in ts}
    blocks: list = [Table(["iteration"] + [f"score {s}" for s in scores] + ["share of 5s"], rows)]
    if png := plots.grouped_bars(scores, series, "Judge scores (single judgments)", "share of parsed judgments", ylim=(0, 1.0)):
        blocks.append(Plot("score_histograms", "Share of each score among parsed judgments; mass piling up at 5 is saturation.", png))
    return blocks


def lengths(run: RunFiles) -> list:
    """Mean response lengths per iteration: length growth shows here."""
    ts = sorted(set(_iters(run, "candidates")) | set(_iters(run, "pairs")))
    if not ts:
        return _missing("no iter*/stats.json with candidates or pairs yet")
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
    if png := plots.lines([f"iter{t}" for t in ts], panels, {"Candidates: mean length": "tokens", "Pairs: mean length": unit}):
        blocks.append(Plot("lengths", "Candidates of iteration t are sampled from M(t); a rising line is length growth.", png))
    return blocks


def meta_parse_rate(meta: dict) -> float | None:
    """Share of meta-judge verdicts that parsed, under the spellings the meta stage may use."""
    rate = first_num(meta, "verdict_parse_rate", "parse_rate")
    if rate is not None:
        return rate
    parsed = first_num(meta, "verdicts_parsed", "parsed")
    unparsed = first_num(meta, "verdicts_unparsed", "unparsed")
    return ratio(parsed, parsed + unparsed) if parsed is not None and unparsed is not None else None


def first_position_rate(meta: dict) -> float | None:
    """Share of parsed meta-judge verdicts won by the judgment shown first (0.5 = no bias)."""
    rate = first_num(meta, "first_position_win_rate", "first_position_rate")
    if rate is not None:
        return rate
    first = first_num(meta, "first_position_wins", "win_first")
    second = first_num(meta, "second_position_wins", "win_second")
    return ratio(first, (first or 0) + (second or 0)) if first is not None and second is not None else None


def parse_failures(run: RunFiles) -> list:
    """Share of judgments (and meta-judge verdicts) without a parsable score, per iteration."""
    ts = sorted(set(_iters(run, "judgments")) | set(_iters(run, "meta")))
    if not ts:
        return _missing("no iter*/stats.json with judgments yet")
    judged = {t: section(run.stats[t], "judgments") for t in ts}
    judge_fail = [None if (r := num(judged[t].get("parse_rate"))) is None else 1 - r for t in ts]
    meta_fail = [None if (r := meta_parse_rate(section(run.stats[t], "meta"))) is None else 1 - r for t in ts]
    rows = [[f"iter{t}", fmt(num(judged[t].get("judgments"))), fmt(num(judged[t].get("unparsed"))), fmt(judge_fail[i]),
             fmt(num(judged[t].get("candidates_without_score"))), fmt(meta_fail[i])] for i, t in enumerate(ts)]
    series = {"judgments": judge_fail}
    if any(v is not None for v in meta_fail):
        series["meta-judge verdicts"] = meta_fail
    blocks: list = [Table(["iteration", "judgments", "unparsed", "failure rate", "candidates without score", "meta verdict failure rate"], rows)]
    if png := plots.grouped_bars([f"iter{t}" for t in ts], series, "Parse failures", "share not parsed", ylim=(0, max([v for v in judge_fail + meta_fail if v is not None] + [0.05]) * 1.15)):
        blocks.append(Plot("parse_failures", "Unparsed outputs are dropped and counted, never scored 0.", png))
    return blocks


def _kept_and_dropped(run: RunFiles, name: str, kept_keys: tuple[str, ...], kept_label: str) -> tuple[list[int], dict[str, list]]:
    """Iterations with section ``name`` and the stacked parts: kept, then each drop reason."""
    ts = _iters(run, name)
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
        return _missing(f"no iter*/stats.json with a '{name}' section yet")
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


def meta(run: RunFiles) -> list:
    """Meta-Rewarding only: judge pairs kept/dropped, and the meta-judge's two known biases."""
    ts = _iters(run, "meta")
    if not ts:
        if run.config.get("method", "self_rewarding") != "meta_rewarding":
            return [Text(f"Not used: this run's method is {run.config.get('method', 'self_rewarding')} (no meta-judge).")]
        return _missing("no iter*/stats.json with a 'meta' section yet")
    blocks = kept_dropped_section(run, "meta", ("judge_pairs", "kept", "pairs"), (), "Judge pairs: kept and dropped",
                                  "Judge preference pairs from meta-judge battles, kept and dropped by reason.")
    metas = [section(run.stats[t], "meta") for t in ts]
    blocks.append(Table(["iteration", "comparisons", "verdict parse rate", "first-position win share", "higher-score win share", "w1", "w2", "judge pairs trained on"],
                        [[f"iter{t}"] + _meta_row(m) for t, m in zip(ts, metas)]))
    biases = {"judgment shown first": [first_position_rate(m) for m in metas],
              "judgment with the higher score": [num(m.get("higher_score_win_rate")) for m in metas]}
    if png := plots.grouped_bars([f"iter{t}" for t in ts], biases, "Meta-judge: share of verdicts won by ...", "share of parsed verdicts", ylim=(0, 1), reference=0.5):
        blocks.append(Plot("meta_position", "0.5 means no bias. A meta-judge that always prefers the first position or the "
                           "higher score is a failure mode (MR section 2); the Elo weights correct only the position bias.", png))
    return blocks


def _meta_row(m: dict) -> list[str]:
    trained = m.get("judge_pairs_trained_on")
    return [fmt(num(m.get("comparisons"))), fmt(meta_parse_rate(m)), fmt(first_position_rate(m)), fmt(num(m.get("higher_score_win_rate"))),
            fmt(num(m.get("w1"))), fmt(num(m.get("w2"))), fmt(trained if isinstance(trained, bool) else None)]


def examples(run: RunFiles) -> list:
    """A few pairs from each iteration's pairs.jsonl (and judge_pairs.jsonl), with their numbers."""
    if not any(run.examples.values()):
        return _missing("no iter*/pairs.jsonl yet")
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
        return _missing("no iter*/stats.json yet")
    blocks: list = []
    for name in names:
        ts = _iters(run, name)
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


SECTIONS: tuple[tuple[str, str, Callable[[RunFiles], list]], ...] = (
    ("Overview", "overview", overview),
    ("Key numbers", "key-numbers", key_numbers),
    ("Judge metrics by model", "judge", judge_metrics),
    ("Win rates", "win-rates", win_rates),
    ("Judge score histograms", "scores", score_histograms),
    ("Response length", "lengths", lengths),
    ("Parse failures", "parse", parse_failures),
    ("Prompts kept and dropped", "prompts", prompts),
    ("Pairs kept and dropped", "pairs", pairs),
    ("Meta-judge", "meta", meta),
    ("Example pairs", "examples", examples),
    ("All recorded counts", "counts", all_numbers),
)


def build_sections(run: RunFiles) -> list[Section]:
    """Every section; one that fails on data of an unexpected shape says so and the rest go on."""
    built = []
    for title, anchor, make in SECTIONS:
        try:
            blocks = make(run)
        except Exception as exc:  # a report of a damaged run is still worth having
            log.exception("report section %r failed", title)
            blocks = [Text(f"This section could not be built from the run's files ({type(exc).__name__}: {exc}).")]
        built.append(Section(title, anchor, blocks))
    return built


# ---------------------------------------------------------------------------------------------
# Writing


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``report_files/*.png``); returns both paths."""
    root = Path(run_dir)
    if not (root / "config.yaml").is_file():
        raise UserError(f"{root}: not a run directory (no config.yaml)")
    run = read_run(root)
    sections = build_sections(run)
    title = f"srlm run report: {run.config.get('name') or root.name}"
    html_path, md_path = root / "report.html", root / "report.md"
    _write_images(root / IMAGE_DIR, [b for s in sections for b in s.blocks if isinstance(b, Plot)])
    write_text(html_path, render_html(title, sections))
    write_text(md_path, render_markdown(title, sections, IMAGE_DIR))
    return html_path, md_path


def _write_images(folder: Path, figures: list[Plot]) -> None:
    """Write each plot as ``<name>.png`` atomically and remove plots of an earlier report."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {f"{p.name}.png" for p in figures}
    for old in folder.glob("*.png"):
        if old.name not in names:
            old.unlink()
    for plot in figures:
        tmp = folder / f"{plot.name}.png.tmp"
        tmp.write_bytes(plot.png)
        os.replace(tmp, folder / f"{plot.name}.png")


def _command(args: argparse.Namespace) -> int:
    html_path, md_path = write_report(Path(args.run_dir))
    print(f"report: {html_path}")
    print(f"        {md_path}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``srlm report RUN_DIR``."""
    parser = subparsers.add_parser("report", help="write report.html and report.md with plots for a run directory")
    parser.add_argument("run_dir", help="a run directory, e.g. runs/tiny")
    parser.set_defaults(func=_command)
