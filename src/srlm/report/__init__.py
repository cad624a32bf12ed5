"""``srlm report RUN_DIR``: an HTML page and a Markdown summary of one run, from its files only.

Reads ``config.yaml``, ``M<t>/eval.json``, ``iter<t>/stats.json`` and ``iter<t>/(judge_)pairs.jsonl``
and writes ``report.html`` (self-contained: plots inline as base64 PNG) and ``report.md`` (plots
in ``report_files/``). It is meant to be run on unfinished runs too: a missing file or key makes
its section say "not yet available", never an error. The plots are there to show the failure
modes the Meta-Rewarding paper reports (Wu et al. 2024, section 5): judge scores saturating at 5, response length growing each
iteration, judgments that do not parse, and a meta-judge that prefers the first position.

The package, in the order the data flows:

- ``files``: reads the run directory into one ``RunFiles``, and the safe value accessors;
- ``sections`` (with ``sections_judge`` and ``sections_data``): builds each section's blocks;
- ``plots``: draws the figures as PNG bytes;
- ``render``: the blocks and their two renderings, HTML and Markdown;
- this module: ``write_report``, which writes both files and the images.

The command itself is registered in ``srlm.cli.report``.
"""

from __future__ import annotations

import os
from pathlib import Path

from srlm.errors import UserError
from srlm.report.files import read_run
from srlm.report.render import Plot, render_html, render_markdown
from srlm.report.sections import build_sections
from srlm.runtime.rundir import write_text

IMAGE_DIR = "report_files"


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
