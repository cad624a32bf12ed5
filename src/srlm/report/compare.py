"""``srlm report RUN_A RUN_B``: two runs side by side, per model and per iteration.

Built from the same ``RunFiles`` as the one-run report, so every number is read from the two runs'
files: what differs in their configs, the judge metrics of each M<t> (with intervals and chance),
the head-to-head against each run's own M1, the per-iteration numbers (lengths, parse rate,
saturation, pairs), training losses and recorded times. A run that has fewer models or iterations
leaves its cells 'n/a'.
"""

from __future__ import annotations

from collections.abc import Callable

from srlm.report import plots
from srlm.report.files import RunFiles, fmt, num, section
from srlm.report.render import Plot, Section, Table, Text
from srlm.report.sections import build_sections
from srlm.report.sections_judge import share_at, win_rate_entries
from srlm.report.sections_metrics import cell, chance_level, interval, judge_dicts, metric_keys, scoring_label
from srlm.report.sections_run import flat, loss_series, stage_times

Pair = tuple[tuple[str, RunFiles], tuple[str, RunFiles]]


def labels(a: RunFiles, b: RunFiles) -> tuple[str, str]:
    """The runs' names, or 'A' and 'B' when both have the same name."""
    names = [str(r.config.get("name") or r.root.name) for r in (a, b)]
    return (names[0], names[1]) if names[0] != names[1] else ("A", "B")


def runs_section(pair: Pair) -> list:
    """Which runs these are, and every config key on which they differ."""
    rows = [[label, str(run.root), str(run.config.get("method", "?")), str(run.config.get("model", "?")),
             ", ".join(f"M{t}" for t in run.models) or "none", str(run.config.get("seed", "?"))] for label, run in pair]
    blocks: list = [Table(["run", "directory", "method", "model", "models", "seed"], rows)]
    (la, a), (lb, b) = pair
    fa, fb = dict(flat(a.config)), dict(flat(b.config))
    differ = [[key, fa.get(key, "(absent)"), fb.get(key, "(absent)")] for key in dict.fromkeys([*fa, *fb])
              if key not in ("name", "runs_dir") and fa.get(key) != fb.get(key)]
    blocks.append(Table(["config key", la, lb], differ) if differ else Text("The two configs are the same (name and runs_dir aside)."))
    return blocks


def judge_section(pair: Pair) -> list:
    """Each metric per model, both runs in adjacent columns; one panel per metric over M<t>."""
    judged = [judge_dicts(run) for _, run in pair]
    ts = sorted(set(judged[0]) | set(judged[1]))
    if not ts:
        return [Text("Not yet available: neither run has M*/eval.json with judge metrics.")]
    all_metrics = [m for j in judged for m in j.values()]
    keys = metric_keys(all_metrics)
    chance = {k: next((c for m in all_metrics if (c := chance_level(k, m)) is not None), None) for k in keys}
    headers = ["metric", "chance"] + [f"{label} M{t}" for t in ts for label, _ in pair]
    rows = [[k, fmt(chance[k]) if chance[k] is not None else ""] + [cell(j[t], k) if t in j else "n/a" for t in ts for j in judged] for k in keys]
    digits = "; ".join(f"{label}: {scoring_label(run, next(iter(j.values())))[0]}" for (label, run), j in zip(pair, judged) if j)
    blocks: list = [Text(f"Scores: {digits}. Cells: value [95 % bootstrap interval] where eval.json stores one."), Table(headers, rows)]
    panels = {k: {label: [num(j.get(t, {}).get(k)) for t in ts] for (label, _), j in zip(pair, judged)} for k in keys}
    intervals = {k: {label: [interval(j[t], k) if t in j else None for t in ts] for (label, _), j in zip(pair, judged)} for k in keys}
    values = [v for series in panels.values() for vs in series.values() for v in vs if v is not None]
    if png := plots.lines([f"M{t}" for t in ts], panels, {}, ylim=(min([0.0] + values) - 0.05, 1.05), intervals=intervals, reference=chance):
        blocks.append(Plot("compare_judge", "Judge metrics of each model on its run's held-out EFT data; bars: 95 % intervals; dotted: chance.", png))
    return blocks


def win_rate_section(pair: Pair) -> list:
    """Each run's M<t> against its own M1: score and interval, wins / ties / losses."""
    entries = [{(t, name): o for t in sorted(run.evals) for name, o in win_rate_entries(run.evals[t])} for _, run in pair]
    keys = list(dict.fromkeys([*entries[0], *entries[1]]))
    if not keys:
        return [Text("Not measured: neither run has a win_rate entry in M*/eval.json.")]
    rows = [[f"M{t} {name}"] + [_outcome(e.get((t, name))) for e in entries] for t, name in keys]
    return [Table(["comparison"] + [f"{label}: score [95 % CI] (wins / ties / losses)" for label, _ in pair], rows),
            Text("Each run's models are compared with that run's own M1, so the two columns answer 'how much did each loop improve on its start'.")]


def _outcome(o: dict | None) -> str:
    if not o:
        return "n/a"
    ci = o.get("score_ci")
    interval_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, list) and len(ci) == 2 and all(num(v) is not None for v in ci) else ""
    return f"{fmt(num(o.get('score')))}{interval_text} ({fmt(num(o.get('wins')))} / {fmt(num(o.get('ties')))} / {fmt(num(o.get('losses')))})"


ITERATION_NUMBERS: tuple[tuple[str, Callable[[dict], float | None]], ...] = (
    ("prompts kept", lambda s: num(section(s, "prompts").get("kept"))),
    ("candidates: mean length (tokens)", lambda s: num(section(s, "candidates").get("mean_length_tokens"))),
    ("judge parse rate", lambda s: num(section(s, "judgments").get("parse_rate"))),
    ("mean written score", lambda s: num(section(s, "judgments").get("mean_score"))),
    ("share of 5s", lambda s: share_at(section(s, "judgments"), "5")),
    ("pairs kept", lambda s: num(section(s, "pairs").get("kept"))),
    ("pairs: mean chosen length", lambda s: num(section(s, "pairs").get("mean_chosen_length"))),
    ("pairs: mean chosen score", lambda s: num(section(s, "pairs").get("mean_chosen_score"))),
    ("pairs: mean rejected score", lambda s: num(section(s, "pairs").get("mean_rejected_score"))),
)
PLOTTED = ("candidates: mean length (tokens)", "share of 5s", "pairs kept")  # counts, lengths, shares: axes from 0


def iterations_section(pair: Pair) -> list:
    """The numbers a reader checks first, per iteration, both runs in adjacent columns."""
    ts = sorted(set(pair[0][1].stats) | set(pair[1][1].stats))
    if not ts:
        return [Text("Not yet available: neither run has iter*/stats.json.")]
    value = {name: {label: [get(run.stats[t]) if t in run.stats else None for t in ts] for label, run in pair} for name, get in ITERATION_NUMBERS}
    headers = ["quantity"] + [f"{label} iter{t}" for t in ts for label, _ in pair]
    rows = [[name] + [fmt(value[name][label][i]) for i in range(len(ts)) for label, _ in pair] for name, _ in ITERATION_NUMBERS]
    scoring = "; ".join(f"{label}: {section(run.config, 'judge').get('scoring', 'text')}" for label, run in pair)
    blocks: list = [Table(headers, rows), Text(f"Mean written score: the digits the judge wrote. Pair scores: the scores the pairs were built "
                                              f"from, by each run's judge.scoring ({scoring}; 'expected' = expected digit).")]
    if png := plots.lines([f"iter{t}" for t in ts], {name: value[name] for name in PLOTTED}, {}, zero=True, ylim={"share of 5s": (0.0, 1.0)}):
        blocks.append(Plot("compare_iterations", "Per iteration (candidates of iteration t come from M(t)); every axis starts at 0.", png))
    return blocks


def training_section(pair: Pair) -> list:
    """Final losses and training times per model; the loss curves of both runs overlaid."""
    ts = sorted(set(pair[0][1].train) | set(pair[1][1].train) | set(pair[0][1].logs) | set(pair[1][1].logs))
    if not ts:
        return [Text("Not yet available: neither run has M*/train.json.")]
    headers = ["model"] + [f"{label} {what}" for label, _ in pair for what in ("final loss", "seconds")]
    rows = [[f"M{t}"] + [fmt(num(run.train.get(t, {}).get(k))) for _, run in pair for k in ("final_loss", "seconds")] for t in ts]
    blocks: list = [Table(headers, rows)]
    panels = {f"M{t}": {label: loss_series(run.logs.get(t, [])) for label, run in pair} for t in ts}
    if png := plots.curves(panels, "optimizer step", "loss"):
        blocks.append(Plot("compare_loss", "Training loss per logging step (trainer_state.json) of both runs; each panel's title gives its range.", png))
    totals = [f"{label}: {sum(v for _, v in stage_times(run)) / 60:.1f} min" for label, run in pair]
    return blocks + [Text("Recorded time ('seconds' keys): " + "; ".join(totals) + ".")]


COMPARE_SECTIONS: tuple[tuple[str, str, Callable[[Pair], list]], ...] = (
    ("Runs", "runs", runs_section),
    ("Judge metrics by model", "judge", judge_section),
    ("Win rates against each run's M1", "win-rates", win_rate_section),
    ("Per iteration", "iterations", iterations_section),
    ("Training", "training", training_section),
)


def compare_sections(a: RunFiles, b: RunFiles) -> list[Section]:
    """Every section of the comparison, in page order."""
    la, lb = labels(a, b)
    pair: Pair = ((la, a), (lb, b))
    return build_sections(pair, COMPARE_SECTIONS)
