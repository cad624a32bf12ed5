"""Judge prompt templates: the two papers' prompts by name, or a user's own file.

Placeholders are written ``{name}``. They are filled with :func:`fill`, which never uses
``str.format``: prompts and responses are model text and routinely contain braces (code,
JSON, LaTeX), and an inserted value must never be scanned for placeholders again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from srlm.config import did_you_mean
from srlm.errors import UserError

# A placeholder is a brace-delimited identifier; other braces in a template stay literal.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class TemplateInfo:
    """A shipped template: its file under ``srlm/judging/templates/``, source and placeholders."""

    file: str
    citation: str
    placeholders: tuple[str, ...]


TEMPLATES: dict[str, TemplateInfo] = {
    "additive_5pt": TemplateInfo(
        file="judge_additive_5pt.txt",
        citation="Yuan et al. 2024, Self-Rewarding Language Models, Figure 2 (arXiv 2401.10020)",
        placeholders=("prompt", "response"),
    ),
    "meta_judge": TemplateInfo(
        file="meta_judge.txt",
        citation="Wu et al. 2024, Meta-Rewarding Language Models, Figure 2 (arXiv 2407.19594)",
        placeholders=("prompt", "response", "judgment_a", "judgment_b"),
    ),
    "pairwise": TemplateInfo(
        file="pairwise.txt",
        citation="srlm's own head-to-head prompt; SR section 3.2 compares models with GPT-4 as a pairwise evaluator",
        placeholders=("prompt", "response_a", "response_b"),
    ),
}


def placeholders(template: str) -> set[str]:
    """The placeholder names that occur in ``template``.

    >>> sorted(placeholders("User: {prompt} <response>{response}</response> {not a name}"))
    ['prompt', 'response']
    """
    return set(_PLACEHOLDER.findall(template))


def load_template(name_or_path: str, required: tuple[str, ...] = ()) -> str:
    """The text of a shipped template (by name, see ``TEMPLATES``) or of a user's file.

    Raises ``UserError`` naming the file when it cannot be read or lacks one of ``required``.

    >>> "{judgment_b}" in load_template("meta_judge", ("prompt", "response"))
    True
    """
    if name_or_path in TEMPLATES:
        source = resources.files("srlm.judging") / "templates" / TEMPLATES[name_or_path].file
        shown = f"{name_or_path} ({TEMPLATES[name_or_path].file})"
        text = source.read_text(encoding="utf-8")
    else:
        shown = name_or_path
        text = _read_user_file(Path(name_or_path))
    missing = [key for key in required if key not in placeholders(text)]
    if missing:
        wanted = ", ".join("{" + key + "}" for key in missing)
        raise UserError(f"{shown}: judge template lacks the placeholder(s) {wanted}")
    unknown = sorted(placeholders(text) - set(required))
    if unknown and required and name_or_path not in TEMPLATES:
        # Left unfilled, "{rubric}" would reach the model as text: most likely a misspelt field.
        known = ", ".join("{" + key + "}" for key in required)
        raise UserError(f"{shown}: judge template holds the unknown placeholder {{{unknown[0]}}}{did_you_mean(unknown[0], required)} (it may hold {known})")
    return text


def _read_user_file(path: Path) -> str:
    """A user's template file as text, or a ``UserError`` that says which file and why."""
    known = ", ".join(sorted(TEMPLATES))
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a template file (or a shipped template: {known})")
    if not path.is_file():
        raise UserError(f"{path}: no such template file (shipped templates: {known}){did_you_mean(str(path), sorted(TEMPLATES))}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: cannot read template: not valid UTF-8 (byte {err.object[err.start]:#04x} at offset {err.start})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read template: {err.strerror or err}") from None


def fill(template: str, **values: object) -> str:
    """``template`` with each ``{key}`` for a given key replaced by ``str(value)``.

    One pass over the template: inserted text is never scanned again, and braces that are not
    a given placeholder stay as they are.

    >>> fill("Judgment A: {judgment_a}\\nJudgment B: {judgment_b}",
    ...      judgment_a="quotes {judgment_b} and {}", judgment_b="Score: 4")
    'Judgment A: quotes {judgment_b} and {}\\nJudgment B: Score: 4'
    >>> fill('JSON stays: {"a": 1} {other}', prompt="unused")
    'JSON stays: {"a": 1} {other}'
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        return str(values[key]) if key in values else match.group(0)

    return _PLACEHOLDER.sub(substitute, template)
