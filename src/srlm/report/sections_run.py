"""Report sections about the run itself: training (loss curves from each model's
``trainer_state.json``, final numbers from ``train.json``), where the time went, and the config.

The loss curves are transformers' own training log (``TrainerState.log_history``: a dict per
logging step with ``step``, ``loss``, ``learning_rate`` ...; the last one holds ``train_loss``).
Timings are only those the run recorded (``seconds`` keys); stages that record none are not
guessed from file times.
"""

from __future__ import annotations

import json
from typing import Any

from srlm.report import plots
from srlm.report.files import RunFiles, fmt, num
from srlm.report.render import Plot, Table, Text, missing


def trained_as(train: dict) -> str:
    """'SFT' for a model trained on rows, 'DPO' for one trained on pairs (train.json's counts)."""
    return "DPO" if "pairs" in train else "SFT" if "rows" in train else "?"


def loss_series(history: list[dict], key: str = "loss") -> tuple[list[float], list[float]]:
    """(steps, values) of ``key`` over the logging steps that have both."""
    points = [(num(h.get("step")), num(h.get(key))) for h in history]
    kept = [(s, v) for s, v in points if s is not None and v is not None]
    return [s for s, _ in kept], [v for _, v in kept]


def training(run: RunFiles) -> list:
    """Per model: how it was trained and its final loss; the loss curves where the log is kept."""
    if not run.train and not run.logs:
        return missing("no M*/train.json yet")
    ts = sorted(set(run.train) | set(run.logs))
    rows = []
    for t in ts:
        train, (_, losses) = run.train.get(t, {}), loss_series(run.logs.get(t, []))
        rows.append([f"M{t}", trained_as(train), fmt(num(train.get("rows", train.get("pairs")))), fmt(num(train.get("steps"))),
                     fmt(losses[0] if losses else None), fmt(losses[-1] if losses else None), fmt(num(train.get("final_loss"))),
                     fmt(num(train.get("seconds")))])
    blocks: list = [Table(["model", "trained by", "rows / pairs", "steps", "first logged loss", "last logged loss", "final loss (train.json)", "seconds"], rows)]
    if not run.logs:
        return blocks + [Text("Loss curves: not available, no M*/trainer_state.json (the model's training log) in this run.")]
    panels = {f"M{t} ({trained_as(run.train.get(t, {}))})": {name: loss_series(history, key) for name, key in (("train loss", "loss"), ("eval loss", "eval_loss"))}
              for t, history in sorted(run.logs.items())}
    if png := plots.curves(panels, "optimizer step", "loss"):
        blocks.append(Plot("loss_curves", "Training loss per logging step, from each model's trainer_state.json; each panel's y axis "
                           "fits its own values (its title gives the range). SFT and DPO losses are on different scales.", png))
    else:
        blocks.append(Text("Loss curves: the training logs hold no logged loss (too few steps for one logging interval?)."))
    blocks.append(_last_logged(run))
    return blocks


def _last_logged(run: RunFiles) -> Table:
    """The last logged value of every number in each model's training log (TRL's reward stats too)."""
    ts = sorted(run.logs)
    last = {t: {k: v for h in run.logs[t] for k, v in h.items() if num(v) is not None} for t in ts}
    keys = list(dict.fromkeys(k for t in ts for k in last[t]))
    return Table(["logged key"] + [f"M{t}" for t in ts], [[k] + [fmt(last[t].get(k)) for t in ts] for k in keys],
                 folded="Last logged value of every number in the training logs")


def timed(data: dict, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, seconds) for every ``seconds`` or ``*_seconds`` number in ``data``."""
    found: list[tuple[str, float]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += timed(value, f"{prefix}{key}.")
        elif (key == "seconds" or str(key).endswith("_seconds")) and num(value) is not None:
            found.append((f"{prefix}{key}", float(value)))
    return found


def stage_times(run: RunFiles) -> list[tuple[str, float]]:
    """Every recorded duration, labelled by where it was read (train.json, stats.json, eval.json)."""
    rows = [(f"M{t} training ({trained_as(train)}), M{t}/train.json {k}", v) for t, train in sorted(run.train.items()) for k, v in timed(train)]
    for t, stats in sorted(run.stats.items()):
        # stats.json's "train" section repeats M(t+1)/train.json, already listed.
        rows += [(f"iter{t} stats.json {k}", v) for k, v in timed({n: s for n, s in stats.items() if not (n == "train" and t + 1 in run.train)})]
    rows += [(f"M{t} evaluation, M{t}/eval.json {k}", v) for t, ev in sorted(run.evals.items()) for k, v in timed(ev)]
    return rows


def timings(run: RunFiles) -> list:
    """Where the run's time went, as far as it was recorded."""
    rows = stage_times(run)
    if not rows:
        return missing("no recorded durations (train.json 'seconds') yet")
    total = sum(v for _, v in rows)
    table = Table(["what", "seconds", "minutes", "share of recorded time"],
                  [[what, fmt(v), f"{v / 60:.1f}", f"{v / total:.1%}" if total else "n/a"] for what, v in rows])
    return [table, Text(f"Recorded total: {total / 60:.1f} min. Only what records its duration ('seconds') is listed; "
                        "a stage without such a key is not timed here.")]


def flat(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) of a nested config, values as YAML writes them (5.0e-06 stays 5e-06)."""
    if not isinstance(data, dict):
        return [(prefix.rstrip("."), json.dumps(data, ensure_ascii=False) if data is None or isinstance(data, (bool, list)) else str(data))]
    if not data and prefix:
        return [(prefix.rstrip("."), "{}")]
    return [pair for key, value in data.items() for pair in flat(value, f"{prefix}{key}.")]


def config(run: RunFiles) -> list:
    """The run's config.yaml, every key (folded in the page)."""
    if not run.config:
        return missing("no readable config.yaml")
    c = run.config
    return [Text(f"Model {c.get('model', '?')}, method {c.get('method', '?')}, {c.get('iterations', '?')} iterations, seed {c.get('seed', '?')}."),
            Table(["key", "value"], [list(pair) for pair in flat(c)], folded=f"All {len(flat(c))} keys of config.yaml")]
