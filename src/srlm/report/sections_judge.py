"""Report sections about the model as a judge: reward-model metrics on held-out EFT data, the
head-to-head win rates, judge score histograms, parse failures, and the meta-judge's biases.

These are the plots that show the failure modes Wu et al. 2024 (section 5) report: scores saturating at
5, judgments that do not parse, and a meta-judge that prefers the first position.
"""

from __future__ import annotations

from typing import Any

from srlm.report import plots
from srlm.report.files import RunFiles, first_num, fmt, iterations_with, num, ratio, section
from srlm.report.render import Plot, Table, Text, missing
from srlm.report.sections_data import kept_dropped_section

# Strict pairwise (a judge tie earns 0) first: the papers' reading, the one to set beside SR
# Table 4; the tie-half reading and the tie share beside it (docs/evaluation.md).
JUDGE_METRICS = ("pairwise_accuracy_strict", "pairwise_accuracy_untied", "pairwise_accuracy_tie_half", "judge_tie_share", "exact_match", "five_best",
                 "spearman", "kendall", "parse_rate", "share_top_score")
PAPER_NOTE = ("pairwise_accuracy_strict counts a judge tie as wrong, the papers' reading (SR section 3.3): compare it, not the "
              "tie-half value, with SR Table 4 (70B: 65.1 % for the SFT baseline, 78.7 / 80.4 / 81.7 % for M1 / M2 / M3; exact "
              "match 13.1 % for M1), with pairwise_accuracy_untied (judge ties left out) beside it, since SR does not state its "
              "tie rule (docs/evaluation.md). judge_tie_share is the share of human-ordered pairs the judge tied.")


def metric(m: dict, key: str) -> float | None:
    """A judge metric of one eval.json; files written before the strict value existed hold the
    tie-half value under ``pairwise_accuracy`` only."""
    if key == "pairwise_accuracy_tie_half" and key not in m:
        return num(m.get("pairwise_accuracy"))
    return num(m.get(key))


def judge_metrics(run: RunFiles) -> list:
    """M<t> as a judge on held-out EFT data: a table and one bar group per metric."""
    judged = {t: section(run.evals[t], "judge") for t in sorted(run.evals) if section(run.evals[t], "judge")}
    if not judged:
        return missing("no M*/eval.json with judge metrics yet")
    table = Table(["model"] + list(JUDGE_METRICS) + ["mean judge score", "responses"],
                  [[f"M{t}"] + [fmt(metric(m, k)) for k in JUDGE_METRICS]
                   + [fmt(num(m.get("mean_judge_score"))), fmt(num(m.get("n_responses")))] for t, m in judged.items()])
    png = plots.grouped_bars(list(JUDGE_METRICS), {f"M{t}": [metric(m, k) for k in JUDGE_METRICS] for t, m in judged.items()},
                             "Judge metrics by model (held-out EFT)", "value", ylim=(min(0.0, _lowest(judged)), 1.05))
    blocks: list = [table, Text(PAPER_NOTE)]
    if png:
        blocks.append(Plot("judge_metrics", "Reward-model metrics of each model as a judge; correlations can be negative. "
                           "share_top_score rising towards 1 means the judge saturates at 5.", png))
    return blocks


def _lowest(judged: dict[int, dict]) -> float:
    values = [metric(m, k) for m in judged.values() for k in JUDGE_METRICS]
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
        return missing("no M*/eval.json yet")
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
    ts = [t for t in iterations_with(run, "judgments") if isinstance(section(run.stats[t], "judgments").get("histogram"), dict)]
    if not ts:
        return missing("no iter*/stats.json with a judgments histogram yet")
    scores = [str(k) for k in range(6)]
    hists = {t: section(run.stats[t], "judgments")["histogram"] for t in ts}
    rows = [[f"iter{t}"] + [fmt(num(h.get(s))) for s in scores] + [fmt(share_at(section(run.stats[t], "judgments"), "5"))] for t, h in hists.items()]
    series = {f"iter{t} (M{t} judging)": [share_at(section(run.stats[t], "judgments"), s) for s in scores] for t in ts}
    blocks: list = [Table(["iteration"] + [f"score {s}" for s in scores] + ["share of 5s"], rows)]
    if png := plots.grouped_bars(scores, series, "Judge scores (single judgments)", "share of parsed judgments", ylim=(0, 1.0)):
        blocks.append(Plot("score_histograms", "Share of each score among parsed judgments; mass piling up at 5 is saturation.", png))
    return blocks


def _share(meta: dict, rate_keys: tuple[str, ...], part_keys: tuple[str, ...], rest_keys: tuple[str, ...]) -> float | None:
    """A rate the meta stats hold under one of ``rate_keys``, else part / (part + rest) from
    the counts under ``part_keys`` and ``rest_keys`` (the spellings the meta stage may use)."""
    rate = first_num(meta, *rate_keys)
    if rate is not None:
        return rate
    part, rest = first_num(meta, *part_keys), first_num(meta, *rest_keys)
    return ratio(part, part + rest) if part is not None and rest is not None else None


def meta_parse_rate(meta: dict) -> float | None:
    """Share of meta-judge verdicts that parsed."""
    return _share(meta, ("verdict_parse_rate", "parse_rate"), ("verdicts_parsed", "parsed"), ("verdicts_unparsed", "unparsed"))


def first_position_rate(meta: dict) -> float | None:
    """Share of parsed meta-judge verdicts won by the judgment shown first (0.5 = no bias)."""
    return _share(meta, ("first_position_win_rate", "first_position_rate"), ("first_position_wins", "win_first"), ("second_position_wins", "win_second"))


def parse_failures(run: RunFiles) -> list:
    """Share of judgments (and meta-judge verdicts) without a parsable score, per iteration."""
    ts = sorted(set(iterations_with(run, "judgments")) | set(iterations_with(run, "meta")))
    if not ts:
        return missing("no iter*/stats.json with judgments yet")
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


def meta(run: RunFiles) -> list:
    """Meta-Rewarding only: judge pairs kept/dropped, and the meta-judge's two known biases."""
    ts = iterations_with(run, "meta")
    if not ts:
        if run.config.get("method", "self_rewarding") != "meta_rewarding":
            return [Text(f"Not used: this run's method is {run.config.get('method', 'self_rewarding')} (no meta-judge).")]
        return missing("no iter*/stats.json with a 'meta' section yet")
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

