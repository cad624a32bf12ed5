"""The report's building blocks and their two renderings: one HTML page and one Markdown file.

Sections are lists of blocks (text, table, plot, example pair, texts side by side) so that both
outputs say the same thing. Everything taken from the run's files is escaped with ``html.escape`` in both outputs;
model text goes inside ``<pre>`` in both, where Markdown leaves it alone and HTML shows it
verbatim. The page also carries a Content-Security-Policy that allows only its own script and
``data:`` images, so even a mistake in escaping could not run a script that a model wrote.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field
from typing import Union


@dataclass
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass
class Table:
    """A table of strings (numbers already formatted)."""

    headers: list[str]
    rows: list[list[str]]
    folded: str = ""  # if set, the HTML page folds the table under this line (long tables)


@dataclass
class Plot:
    """A figure: PNG bytes, embedded in the page and written beside the Markdown."""

    name: str
    caption: str
    png: bytes


@dataclass
class Example:
    """One training pair: a title, a line of numbers, and the texts (prompt, chosen, rejected)."""

    title: str
    summary: str
    fields: list[tuple[str, str]]


@dataclass
class Columns:
    """Texts side by side: shared fields on top (e.g. the prompt), then one column per model,
    each with a label, a line of numbers (score, verdict) and its text (answer, judgment)."""

    title: str
    fields: list[tuple[str, str]]
    columns: list[tuple[str, str, str]]


Block = Union[Text, Table, Plot, Example, Columns]


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


def missing(what: str) -> list[Block]:
    """The blocks of a section whose files are not there yet: one "Not yet available" line."""
    return [Text(f"Not yet available: {what}.")]


def e(text: object) -> str:
    """HTML-escaped text for element content (``<``, ``>``, ``&``)."""
    return html.escape(str(text), quote=False)


def attr(text: object) -> str:
    """HTML-escaped text for an attribute value (quotes too)."""
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------------------------
# HTML

# Counts the images that decoded, and the side-by-side blocks whose first two columns the browser
# really laid out in one row, so a headless browser can check the page (tests read it back).
_SCRIPT = (
    'addEventListener("load", function () {'
    " var all = Array.prototype.slice.call(document.images);"
    " var ok = all.filter(function (img) { return img.complete && img.naturalWidth > 0; });"
    ' document.body.setAttribute("data-images-loaded", String(ok.length));'
    ' document.body.setAttribute("data-images-total", String(all.length));'
    ' var grids = Array.prototype.slice.call(document.querySelectorAll(".columns"))'
    ".filter(function (g) { return g.children.length > 1; });"
    " var row = grids.filter(function (g) { var a = g.children[0].getBoundingClientRect(), b = g.children[1].getBoundingClientRect();"
    " return a.top === b.top && b.left >= a.right; });"
    ' document.body.setAttribute("data-columns-total", String(grids.length));'
    ' document.body.setAttribute("data-columns-in-a-row", String(row.length));'
    " });"
)

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.example { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em 1em; margin: 1em 0; }
.example h4 { margin: 0.3em 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f7f7f7; padding: 0.5em; max-height: 22em; overflow-y: auto; }
.missing { color: #a60; font-style: italic; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 0.6em; }
.columns > div { border-top: 3px solid #8ab; padding-top: 0.2em; min-width: 0; }
.columns h5, .example h5 { margin: 0.4em 0 0.2em; } .columns p { margin: 0.2em 0; font-size: 0.9em; color: #444; }
details summary { cursor: pointer; color: #246; }
nav li { display: inline; margin-right: 1em; }
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    return f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def render_html(title: str, sections: list[Section]) -> str:
    """The whole page: table of contents, then each section; images inline as base64 PNG."""
    nav = "".join(f'<li><a href="#{attr(s.anchor)}">{e(s.title)}</a></li>' for s in sections)
    body = "\n".join(_html_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">\n'
        f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n<script>{_SCRIPT}</script>\n</head>\n"
        f"<body>\n<h1>{e(title)}</h1>\n<nav><ul>{nav}</ul></nav>\n{body}\n</body>\n</html>\n"
    )


def _html_section(section: Section) -> str:
    parts = [f'<section id="{attr(section.anchor)}">', f"<h2>{e(section.title)}</h2>"]
    parts += [_html_block(block) for block in section.blocks]
    parts.append("</section>")
    return "\n".join(parts)


def _html_block(block: Block) -> str:
    if isinstance(block, Text):
        css = ' class="missing"' if block.text.startswith(("Not yet available", "Not measured", "Not used")) else ""
        return f"<p{css}>{e(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
        rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        return f"<details><summary>{e(block.folded)}</summary>{table}</details>" if block.folded else table
    if isinstance(block, Plot):
        data = base64.b64encode(block.png).decode("ascii")
        return f'<figure><img src="data:image/png;base64,{data}" alt="{attr(block.caption)}"><figcaption>{e(block.caption)}</figcaption></figure>'
    fields = "".join(f"<h5>{e(label)}</h5><pre>{e(text)}</pre>" for label, text in block.fields)
    if isinstance(block, Columns):
        columns = "".join(f"<div><h5>{e(label)}</h5><p>{e(summary)}</p><pre>{e(text)}</pre></div>" for label, summary, text in block.columns)
        return f'<div class="example"><h4>{e(block.title)}</h4>{fields}<div class="columns">{columns}</div></div>'
    return f'<div class="example"><h4>{e(block.title)}</h4><p>{e(block.summary)}</p>{fields}</div>'


# ---------------------------------------------------------------------------------------------
# Markdown


def render_markdown(title: str, sections: list[Section], image_dir: str) -> str:
    """The summary as Markdown; plots are linked as ``<image_dir>/<name>.png``."""
    lines = [f"# {e(title)}", ""]
    for section in sections:
        lines += [f"## {e(section.title)}", ""]
        for block in section.blocks:
            lines += _md_block(block, image_dir) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return e(text).replace("|", "\\|").replace("\n", " ")


def _md_block(block: Block, image_dir: str) -> list[str]:
    if isinstance(block, Text):
        return [e(block.text)]
    if isinstance(block, Table):
        lines = [e(block.folded) + ":", ""] if block.folded else []
        lines += ["| " + " | ".join(_md_cell(h) for h in block.headers) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(block.headers) - 1)) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return lines
    if isinstance(block, Plot):
        return [f"![{_md_cell(block.name.replace('_', ' '))}]({image_dir}/{block.name}.png)", "", f"*{e(block.caption)}*"]
    if isinstance(block, Columns):
        lines = [f"#### {e(block.title)}"]
        for label, text in block.fields:
            lines += ["", f"**{e(label)}**", "", f"<pre>{e(text)}</pre>"]
        for label, summary, text in block.columns:
            lines += ["", f"**{e(label)}**: {e(summary)}", "", f"<pre>{e(text)}</pre>"]
        return lines
    lines = [f"#### {e(block.title)}", "", e(block.summary)]
    for label, text in block.fields:
        # An HTML block: Markdown does not touch its inside, and the escaped text cannot close it.
        lines += ["", f"**{e(label)}**", "", f"<pre>{e(text)}</pre>"]
    return lines
