"""The report's table of contents: every section in page order, and ``build_sections``, which
builds them all from one ``RunFiles`` so that a section failing on odd data spoils only itself.

The overview and the key numbers live here; the other sections are in ``sections_judge`` (the
model as a judge and meta-judge) and ``sections_data`` (what the stages kept, dropped and wrote).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from srlm.report.files import RunFiles, fmt, num, section
from srlm.report.render import Section, Table, Text, missing
from srlm.report.sections_data import all_numbers, examples, lengths, pairs, prompts
from srlm.report.sections_judge import meta, parse_failures, score_histograms, share_at, win_rates
from srlm.report.sections_metrics import judge_metrics
from srlm.report.sections_run import config, timings, training
from srlm.report.sections_texts import answers, judge_reasons
from srlm.runtime.rundir import model_done

log = logging.getLogger("srlm")


def overview(run: RunFiles) -> list:
    """Run name and method, and which files exist for each model and iteration."""
    blocks: list = [Text(f"Run directory: {run.root}. Method: {run.config.get('method', 'unknown')}; "
                         f"planned iterations: {run.config.get('iterations', 'unknown')}. "
                         "Every number below is read from the run's files.")]
    rows = []
    for t in run.models:
        rows.append([f"M{t}", "complete" if model_done(run.root / f"M{t}" / "model") else "not complete",
                     "yes" if t in run.evals else "no", "yes" if t in run.logs else "no", "", ""])
    for t in run.iterations:
        rows.append([f"iter{t}", "", "", "", ", ".join(run.stats.get(t, {})) or "none", "yes" if t in run.examples else "no"])
    blocks.append(Table(["step", "checkpoint", "eval.json", "training log", "stats.json sections", "pairs.jsonl"], rows))
    if run.problems:
        blocks.append(Text("Files that could not be read: " + "; ".join(run.problems)))
    return blocks


def key_numbers(run: RunFiles) -> list:
    """One row per iteration with the numbers a reader checks first."""
    if not run.stats:
        return missing("no iter*/stats.json yet")
    # The judgments' mean is of the written digits (the histogram's); the pairs' means are of the
    # scores the pairs were built from, which are expected digits under judge.scoring=expected.
    pair_score = "expected digit" if section(run.config, "judge").get("scoring") == "expected" else "written digit"
    headers = ["iteration", "prompts kept / generated", "candidates", "mean length (tokens)", "judge parse rate",
               "mean written score", "share of 5s", "pairs kept", "pairs dropped", f"mean chosen score ({pair_score})",
               f"mean rejected score ({pair_score})"]
    rows = []
    for t in sorted(run.stats):
        s = run.stats[t]
        prompts, cands, judged, pairs = (section(s, k) for k in ("prompts", "candidates", "judgments", "pairs"))
        rows.append([f"iter{t} (M{t})", f"{fmt(num(prompts.get('kept')))} / {fmt(num(prompts.get('generated')))}",
                     fmt(num(cands.get("candidates"))), fmt(num(cands.get("mean_length_tokens"))),
                     fmt(num(judged.get("parse_rate"))), fmt(num(judged.get("mean_score"))), fmt(share_at(judged, "5")),
                     fmt(num(pairs.get("kept"))), fmt(_dropped_total(pairs)),
                     fmt(num(pairs.get("mean_chosen_score"))), fmt(num(pairs.get("mean_rejected_score")))])
    return [Table(headers, rows), Text(f"Mean written score: the mean of the digits the judge wrote (as in the score histograms). "
                                       f"Chosen and rejected scores: the {pair_score} means the pairs were built from.")]


def _dropped_total(stats_section: dict) -> int | None:
    dropped = stats_section.get("dropped")
    if not isinstance(dropped, dict):
        return None
    return sum(v for v in dropped.values() if num(v) is not None)


SECTIONS: tuple[tuple[str, str, Callable[[RunFiles], list]], ...] = (
    ("Overview", "overview", overview),
    ("Key numbers", "key-numbers", key_numbers),
    ("Judge metrics by model", "judge", judge_metrics),
    ("Win rates", "win-rates", win_rates),
    ("Training", "training", training),
    ("Judge score histograms", "scores", score_histograms),
    ("Response length", "lengths", lengths),
    ("Parse failures", "parse", parse_failures),
    ("Prompts kept and dropped", "prompts", prompts),
    ("Pairs kept and dropped", "pairs", pairs),
    ("Meta-judge", "meta", meta),
    ("Answers side by side", "answers", answers),
    ("Judgments side by side", "judgments", judge_reasons),
    ("Example pairs", "examples", examples),
    ("All recorded counts", "counts", all_numbers),
    ("Timings", "timings", timings),
    ("Config", "config", config),
)


def build_sections(run: Any, table: Sequence[tuple[str, str, Callable[[Any], list]]] = SECTIONS) -> list[Section]:
    """Every section of ``table`` (the one-run report's by default) built from ``run``; one that
    fails on data of an unexpected shape says so and the rest go on."""
    built = []
    for title, anchor, make in table:
        try:
            blocks = make(run)
        except Exception as exc:  # a report of a damaged run is still worth having
            log.exception("report section %r failed", title)
            blocks = [Text(f"This section could not be built from the run's files ({type(exc).__name__}: {exc}).")]
        built.append(Section(title, anchor, blocks))
    return built

