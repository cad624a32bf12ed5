"""The report's figures: each function takes numbers read from the run and returns PNG bytes.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global state), so reports can be built from any process, including tests. A function returns
``None`` when it has nothing to draw; missing values (``None``) are left out of a plot rather
than drawn as zero, because a zero would read as a measurement.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Any, Callable, Mapping, Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

Series = Mapping[str, Sequence[float | None]]

# Labels can contain text from the run's files; mathtext would try to parse a "$" in them.
_STYLE = {"text.parse_math": False, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10}
_DPI = 100


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes, drawn on an Agg canvas."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _value(x: float | None) -> float:
    """NaN for a missing value: matplotlib leaves NaN bars and points out."""
    return math.nan if x is None else float(x)


def _has_values(series: Series) -> bool:
    return any(v is not None for values in series.values() for v in values)


def grouped_bars_figure(groups: Sequence[str], series: Series, title: str, ylabel: str, ylim: tuple[float, float] | None = None,
                 reference: float | None = None, intervals: Mapping[str, Sequence[tuple[float, float] | None]] | None = None,
                 chance: Sequence[float | None] | None = None) -> Figure | None:
    """Bars for each group (x), one coloured bar per series; e.g. metric x model.

    ``intervals[series][i]`` draws an error bar (a 95 % interval) on that bar; ``chance[i]`` a
    dashed black segment across group i at the value a judge that guesses would get.
    """
    if not groups or not _has_values(series):
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(max(6.0, 1.1 * len(groups) * max(1, len(series)) ** 0.5 + 2), 3.8))
        ax = fig.add_subplot()
        width = 0.8 / max(len(series), 1)
        for k, (name, values) in enumerate(series.items()):
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(groups))]
            ax.bar(xs, [_value(v) for v in values], width=width, label=name)
            _error_bars(ax, xs, values, (intervals or {}).get(name))
        _chance_marks(ax, chance)
        ax.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 5 else 0, ha="right" if len(groups) > 5 else "center")
        _pad(ax, len(groups))
        _finish(ax, title, ylabel, ylim, reference, legend=len(series) > 1 or bool(chance and any(c is not None for c in chance)))
        return fig


def _error_bars(ax, xs: Sequence[float], values: Sequence[float | None], intervals: Sequence[tuple[float, float] | None] | None,
                colour: str = "black") -> None:
    """Caps from an interval's low to its high end, on the bars (points) that have both."""
    for x, value, interval in zip(xs, values, intervals or []):
        if value is None or interval is None:
            continue
        low, high = interval
        ax.errorbar([x], [value], yerr=[[max(0.0, value - low)], [max(0.0, high - value)]], fmt="none", ecolor=colour, capsize=3, linewidth=1)


def _chance_marks(ax, chance: Sequence[float | None] | None) -> None:
    """A dashed segment across each group at its chance level (one collection, one legend entry)."""
    marks = [(i, level) for i, level in enumerate(chance or []) if level is not None]
    if marks:
        ax.hlines([m[1] for m in marks], [m[0] - 0.45 for m in marks], [m[0] + 0.45 for m in marks],
                  colors="black", linestyles="--", linewidth=1.2, label="chance")


def stacked_bars(groups: Sequence[str], parts: Series, title: str, ylabel: str, horizontal: bool = False) -> bytes | None:
    """One bar per group (e.g. iteration) split into parts (e.g. kept + each drop reason)."""
    if not groups or not _has_values(parts):
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.5, max(2.5, 0.6 * len(groups) + 1.5)) if horizontal else (max(5.0, 1.2 * len(groups) + 3), 3.8))
        ax = fig.add_subplot()
        base = [0.0] * len(groups)
        for name, values in parts.items():
            heights = [0.0 if v is None else float(v) for v in values]
            if horizontal:
                ax.barh(range(len(groups)), heights, left=base, label=name)
            else:
                ax.bar(range(len(groups)), heights, bottom=base, label=name)
            base = [b + h for b, h in zip(base, heights)]
        if horizontal:
            ax.set_yticks(range(len(groups)), groups)
            ax.invert_yaxis()  # first comparison on top, as in the table
            ax.set_xlabel(ylabel)
            ax.set_title(title)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        else:
            ax.set_xticks(range(len(groups)), groups)
            _pad(ax, len(groups))
            _finish(ax, title, ylabel, None, None, legend=True)
        return _png(fig)


def lines_figure(xs: Sequence[str], panels: Mapping[str, Series], ylabel: Mapping[str, str], zero: bool = False,
          intervals: Mapping[str, Mapping[str, Sequence[tuple[float, float] | None]]] | None = None,
          ylim: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
          reference: Mapping[str, float | None] | None = None) -> Figure | None:
    """One panel per title, one line per series over the x labels (e.g. iterations).

    ``zero`` starts every y axis at 0: for counts and lengths, where an axis from 42.6 to 43.1
    would make half a token look like a steep rise; ``ylim`` fixes every panel's axis instead
    (e.g. a share's 0 to 1), or the axes of the panels it names when it is a mapping.
    ``intervals[panel][series][i]`` draws error bars, ``reference[panel]`` a dotted line (chance).
    """
    panels = {title: series for title, series in panels.items() if _has_values(series)}
    if not xs or not panels:
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(max(5.5 * min(len(panels), 3), 6.0), 3.8 * math.ceil(len(panels) / 3)))
        for k, (title, series) in enumerate(panels.items()):
            ax = fig.add_subplot(math.ceil(len(panels) / 3), min(len(panels), 3), k + 1)
            for j, (name, values) in enumerate(series.items()):
                # Series side by side by a hair, so equal values do not hide each other's error bars.
                at = [i + 0.08 * (j - (len(series) - 1) / 2) for i in range(len(xs))] if intervals else list(range(len(xs)))
                line = ax.plot(at, [_value(v) for v in values], marker="o", label=name)[0]
                _error_bars(ax, at, values, ((intervals or {}).get(title) or {}).get(name), line.get_color())
            ax.set_xticks(range(len(xs)), xs)
            ax.set_xlim(-0.5, len(xs) - 0.5)
            limits = ylim.get(title) if isinstance(ylim, Mapping) else ylim
            _finish(ax, title, ylabel.get(title, ""), limits, (reference or {}).get(title), legend=len(series) > 1)
            if zero and limits is None:
                ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1e-9))
        fig.tight_layout()
        return fig


def curves(panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]], xlabel: str, ylabel: str) -> bytes | None:
    """One panel per title, one (x, y) curve per series: e.g. training loss over steps per model.

    The y axis is fitted to the values (a loss is not a count), and each panel's title says the
    range its curves span, so a small change cannot pass for a large one.
    """
    panels = {t: {n: c for n, c in s.items() if len(c[0])} for t, s in panels.items()}
    panels = {t: s for t, s in panels.items() if s}
    if not panels:
        return None
    with matplotlib.rc_context(_STYLE):
        columns = min(len(panels), 3)
        fig = Figure(figsize=(max(5.0 * columns, 6.0), 3.6 * math.ceil(len(panels) / columns)))
        for k, (title, series) in enumerate(panels.items()):
            ax = fig.add_subplot(math.ceil(len(panels) / columns), columns, k + 1)
            for name, (x, y) in series.items():
                ax.plot(list(x), list(y), marker="." if len(x) < 40 else None, label=name)
            ys = [v for _, y in series.values() for v in y]
            ax.set_title(f"{title}\n{ylabel} from {min(ys):.4g} to {max(ys):.4g}", fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(series) > 1:
                ax.legend(fontsize=8)
        fig.tight_layout()
        return _png(fig)


def win_rates(labels: Sequence[str], outcomes: Sequence[tuple[float, float, float]], scores: Sequence[tuple[float | None, list[float] | None]]) -> bytes | None:
    """Win / tie / loss shares per comparison, with the score (win + tie/2) and its interval."""
    if not labels:
        return None
    parts = {
        "win": [o[0] for o in outcomes],
        "tie": [o[1] for o in outcomes],
        "loss": [o[2] for o in outcomes],
    }
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(8.0, max(2.5, 0.7 * len(labels) + 1.5)))
        ax = fig.add_subplot()
        left = [0.0] * len(labels)
        for (name, values), colour in zip(parts.items(), ("tab:green", "tab:gray", "tab:red")):
            ax.barh(range(len(labels)), values, left=left, color=colour, alpha=0.75, label=name)
            left = [a + b for a, b in zip(left, values)]
        for i, (score, interval) in enumerate(scores):
            if score is None:
                continue
            error = [[score - interval[0]], [interval[1] - score]] if interval else None
            ax.errorbar([score], [i], xerr=error, fmt="D", color="black", capsize=4, label="score (win + tie/2)" if i == 0 else None)
        ax.axvline(0.5, color="black", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of prompts")
        ax.set_title("Head-to-head: win / tie / loss")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return _png(fig)


def _as_png(build: Callable[..., Figure | None]) -> Callable[..., bytes | None]:
    """``build``'s figure as PNG bytes (``None`` when it has nothing to draw), in the report's style."""
    @functools.wraps(build)
    def draw(*args: Any, **kwargs: Any) -> bytes | None:
        with matplotlib.rc_context(_STYLE):
            fig = build(*args, **kwargs)
            return None if fig is None else _png(fig)
    return draw


# The figure builders stay callable for tests that check axes and marks; the report uses PNGs.
grouped_bars = _as_png(grouped_bars_figure)
lines = _as_png(lines_figure)


def _pad(ax, n: int) -> None:
    """Room for at least three bar slots, so one iteration is not drawn as a wall."""
    extra = max(0.0, (3 - n) / 2)
    ax.set_xlim(-0.5 - extra, n - 0.5 + extra)


def _finish(ax, title: str, ylabel: str, ylim: tuple[float, float] | None, reference: float | None, legend: bool) -> None:
    """Title, axis label, limits, an optional reference line and the legend."""
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle=":", linewidth=1)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
