"""The judge-metrics section: each model as a judge of held-out EFT responses (``M<t>/eval.json``
``judge``), with the 95 % intervals the evaluation stores (``judge.ci95``) and chance levels.

The keys are read generically so that a metric a newer evaluation adds shows up without a change
here: known metrics come first, then every other key whose values are shares or correlations (in
[-1, 1]); ``n_*`` keys are the counts behind them, other numbers (the mean judge score, 0-5) are
tabled but not drawn on the same axis. Chance is what a judge that orders responses at random
would score (Yuan et al. 2024, section 3.3 define the metrics): 0.5 for pairwise accuracy, 0 for
the correlations, 1/k! for exact match and 1/k for 5-best with k responses per prompt.
"""

from __future__ import annotations

import math
from srlm.report import plots
from srlm.report.files import RunFiles, fmt, num, section
from srlm.report.render import Plot, Table, Text, missing

# Strict pairwise (a judge tie earns 0) first: the papers' reading, the one to set beside SR
# Table 4; the tie-half reading and the tie share beside it (docs/evaluation.md). Files written
# before the strict value existed hold the tie-half value under ``pairwise_accuracy`` alone.
JUDGE_METRICS = ("pairwise_accuracy_strict", "pairwise_accuracy_untied", "pairwise_accuracy_tie_half", "judge_tie_share", "pairwise_accuracy",
                 "exact_match", "five_best", "spearman", "kendall", "parse_rate", "share_top_score")
PAPER_NOTE = ("pairwise_accuracy_strict counts a judge tie as wrong, the papers' reading (SR section 3.3): compare it, not the "
              "tie-half value, with SR Table 4 (70B: 65.1 % for the SFT baseline, 78.7 / 80.4 / 81.7 % for M1 / M2 / M3; exact "
              "match 13.1 % for M1), with pairwise_accuracy_untied (judge ties left out) beside it, since SR does not state its "
              "tie rule (docs/evaluation.md). judge_tie_share is the share of human-ordered pairs the judge tied.")
SCALE_KEYS = ("mean_judge_score",)  # numbers on the judge's 0-5 scale, never drawn with the shares


def judge_dicts(run: RunFiles) -> dict[int, dict]:
    """t -> ``judge`` section of ``M<t>/eval.json``, for the models that have one."""
    return {t: section(run.evals[t], "judge") for t in sorted(run.evals) if section(run.evals[t], "judge")}


def metric_keys(judged: list[dict]) -> list[str]:
    """Known metrics present, then any other key whose numeric values all lie in [-1, 1];
    ``pairwise_accuracy`` only where no ``pairwise_accuracy_tie_half`` names the same value."""
    keys = [k for k in JUDGE_METRICS if any(k in m for m in judged)]
    if "pairwise_accuracy_tie_half" in keys and "pairwise_accuracy" in keys:
        keys.remove("pairwise_accuracy")
    for m in judged:
        for key in m:
            values = [num(d.get(key)) for d in judged if num(d.get(key)) is not None]
            if key not in keys and key != "pairwise_accuracy" and not key.startswith("n_") and key not in SCALE_KEYS and values and all(-1 <= v <= 1 for v in values):
                keys.append(key)
    return keys


def other_keys(judged: list[dict], shown: list[str]) -> list[str]:
    """Numeric keys that are neither drawn metrics nor ``n_*`` counts (e.g. the mean judge score)."""
    twin = "pairwise_accuracy_tie_half" in shown  # then "pairwise_accuracy" holds the same value
    keys = dict.fromkeys(k for m in judged for k, v in m.items()
                         if num(v) is not None and not k.startswith("n_") and k not in shown and not (twin and k == "pairwise_accuracy"))
    return list(keys)


def interval(metrics: dict, key: str) -> tuple[float, float] | None:
    """The stored 95 % interval of ``key`` (``ci95[key]`` or ``<key>_ci``), if it is two numbers."""
    stored = section(metrics, "ci95")
    if key == "pairwise_accuracy_tie_half" and key not in stored:
        key = "pairwise_accuracy"  # the evaluation stores the tie-half interval under the old name
    value = stored.get(key, metrics.get(f"{key}_ci"))
    if isinstance(value, list) and len(value) == 2 and all(num(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def responses_per_prompt(metrics: dict) -> float | None:
    groups, responses = num(metrics.get("n_groups")), num(metrics.get("n_responses"))
    return responses / groups if groups and responses else None


def chance_level(key: str, metrics: dict) -> float | None:
    """What a judge that orders the responses at random would score on ``key``, if known.

    >>> chance_level("pairwise_accuracy_strict", {}), chance_level("kendall", {})
    (0.5, 0.0)
    >>> round(chance_level("exact_match", {"n_groups": 6, "n_responses": 30}), 5), chance_level("five_best", {"n_groups": 6, "n_responses": 30})
    (0.00833, 0.2)
    """
    if key.startswith("pairwise_accuracy"):
        return 0.5
    if key.startswith(("spearman", "kendall")):
        return 0.0
    k = responses_per_prompt(metrics)
    if k is None or k < 2:
        return None
    if key == "exact_match":
        return 1 / math.gamma(k + 1)  # 1/k!: one random order of k distinctly rated responses
    if key == "five_best":
        return 1 / k  # a random response is the human best one time in k
    return None


def cell(metrics: dict, key: str) -> str:
    """'0.509 [0.411, 0.611]': the value and its interval when stored."""
    value, ci = fmt(num(metrics.get(key))), interval(metrics, key)
    return f"{value} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and value != "n/a" else value


def scoring_label(run: RunFiles, metrics: dict) -> tuple[str, str]:
    """Which score the metrics use, short and long: the written digit, or the expected digit
    (``judge.scoring: expected``; the evaluation then adds ``text_scoring``)."""
    if "text_scoring" in metrics or section(run.config, "judge").get("scoring") == "expected":
        return "expected digit", "expected digit from the judge's probabilities at its 'Score:' label"
    return "written digit", "digit the judge wrote after 'Score:'"


def judge_metrics(run: RunFiles) -> list:
    """M<t> as a judge on held-out EFT data: a table (value [95 % CI]), bars with error bars and chance."""
    judged = judge_dicts(run)
    if not judged:
        return missing("no M*/eval.json with judge metrics yet")
    digit, label = scoring_label(run, next(iter(judged.values())))
    blocks: list = [Text(f"Scores: the {label}. Cells: value [95 % bootstrap interval] where eval.json stores one."), Text(PAPER_NOTE)]
    blocks += metrics_blocks(judged, "judge_metrics", f"Judge metrics by model (held-out EFT; {digit})", digit)
    nested = dict.fromkeys(k for m in judged.values() for k, v in m.items() if isinstance(v, dict) and k != "ci95" and v)
    for name in nested:
        sub = {t: section(m, name) for t, m in judged.items() if section(m, name)}
        what = "the same judgments scored by the written digit after 'Score:'" if name == "text_scoring" else f"eval.json judge.{name}"
        blocks.append(Text(f"judge.{name}: {what}."))
        sub_digit = "written digit" if name == "text_scoring" else digit
        blocks += metrics_blocks(sub, f"judge_metrics_{name}", f"Judge metrics by model ({name.replace('_', ' ')})", sub_digit)
    return blocks


def metrics_blocks(judged: dict[int, dict], name: str, title: str, digit: str) -> list:
    """The metrics table, the counts table (folded) and the bar chart of one set of judge metrics;
    a mean score's row says which digit it averages (``digit``)."""
    metrics, keys = list(judged.values()), metric_keys(list(judged.values()))
    chance = [next((c for m in metrics if (c := chance_level(k, m)) is not None), None) for k in keys]
    models = [f"M{t}" for t in judged]
    rows = [[k, "" if c is None else fmt(c)] + [cell(m, k) for m in metrics] for k, c in zip(keys, chance)]
    rows += [[f"{k} ({digit})" if k in SCALE_KEYS else k, ""] + [fmt(num(m.get(k))) for m in metrics] for k in other_keys(metrics, keys)]
    counts = list(dict.fromkeys(k for m in metrics for k, v in m.items() if k.startswith("n_") and num(v) is not None))
    blocks: list = [Table(["metric", "chance"] + models, rows)]
    if counts:
        blocks.append(Table(["count"] + models, [[k] + [fmt(num(m.get(k))) for m in metrics] for k in counts], folded="Counts behind the metrics"))
    series = {f"M{t}": [num(m.get(k)) for k in keys] for t, m in judged.items()}
    intervals = {f"M{t}": [interval(m, k) for k in keys] for t, m in judged.items()}
    low = min([v for vs in series.values() for v in vs if v is not None] + [ci[0] for cis in intervals.values() for ci in cis if ci] + [0.0])
    png = plots.grouped_bars(keys, series, title, "value", ylim=(min(0.0, low - 0.05), 1.05), intervals=intervals, chance=chance)
    if png:
        blocks.append(Plot(name, "Each model as a judge; black caps: 95 % bootstrap intervals; dashed: chance (a judge that orders "
                           "responses at random). Correlations can be negative; share_top_score rising towards 1 means the judge saturates at 5.", png))
    return blocks

