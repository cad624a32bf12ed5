"""``srlm report RUN_DIR``: an HTML page and a Markdown summary of one run, from its files only;
``srlm report RUN_A RUN_B``: the same for two runs side by side (``compare``).

Reads ``config.yaml``, ``M<t>/eval.json``, ``M<t>/train.json``, ``M<t>/trainer_state.json``,
``iter<t>/stats.json``, ``iter<t>/(judge_)pairs.jsonl`` and the evaluation's answers and judgments
(``texts``), and writes ``report.html`` (self-contained: plots inline as base64 PNG) and
``report.md`` (plots in ``report_files/``). It is meant to be run on unfinished runs too: a missing file or key makes
its section say "not yet available", never an error. The plots are there to show the failure
modes the Meta-Rewarding paper reports (Wu et al. 2024, section 5): judge scores saturating at 5, response length growing each
iteration, judgments that do not parse, and a meta-judge that prefers the first position.

The package, in the order the data flows:

- ``files``: reads the run directory into one ``RunFiles``, and the safe value accessors;
- ``texts``: the model-written texts shown side by side (answers, verdicts, judgments);
- ``sections`` (with ``sections_metrics``, ``sections_judge``, ``sections_data``, ``sections_texts``
  and ``sections_run``): builds each section's blocks; ``compare``: the two-run sections;
- ``plots``: draws the figures as PNG bytes;
- ``render``: the blocks and their two renderings, HTML and Markdown;
- this module: ``write_report`` and ``write_comparison``, which write both files and the images.

The command itself is registered in ``srlm.cli.report``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from srlm.errors import UserError
from srlm.report.compare import compare_sections, labels
from srlm.report.files import RunFiles, read_run
from srlm.report.render import Plot, render_html, render_markdown
from srlm.report.sections import build_sections
from srlm.runtime.rundir import write_text

IMAGE_DIR = "report_files"


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``report_files/*.png``); returns both paths."""
    root = Path(run_dir)
    run = _read_checked(root)
    return _write(root, f"srlm run report: {run.config.get('name') or root.name}", build_sections(run))


def write_comparison(run_a: Path, run_b: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write the two-run comparison into ``out`` (default ``compare-<A>-vs-<B>`` in the current
    directory, never inside a run): ``report.html``, ``report.md`` and ``report_files/``."""
    a, b = _read_checked(Path(run_a)), _read_checked(Path(run_b))
    if a.root.resolve() == b.root.resolve():
        raise UserError(f"{run_b}: the same run directory as {run_a}; give two different runs")
    la, lb = labels(a, b)
    names = [re.sub(r"[^\w.-]+", "_", str(r.config.get("name") or r.root.name)) for r in (a, b)]
    folder = Path(out) if out is not None else Path(f"compare-{names[0]}-vs-{names[1]}")
    if (folder / "config.yaml").is_file():
        raise UserError(f"{folder}: is a run directory; write the comparison elsewhere (--out), so the run's own report.html stays")
    title = f"srlm comparison: {la} ({a.root}) vs {lb} ({b.root})"
    return _write(folder, title, compare_sections(a, b))


def _read_checked(root: Path) -> RunFiles:
    """The run at ``root``, or a one-line error that names the path when it is not a run."""
    if not root.is_dir():
        raise UserError(f"{root}: no such directory (expected a run directory such as runs/tiny)")
    if not (root / "config.yaml").is_file():
        raise UserError(f"{root}: not a run directory (no config.yaml)")
    return read_run(root)


def _write(folder: Path, title: str, sections: list) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "report.html", folder / "report.md"
    _write_images(folder / IMAGE_DIR, [b for s in sections for b in s.blocks if isinstance(b, Plot)])
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
