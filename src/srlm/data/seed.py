"""Seed data files: JSONL reading, writing and row validation for IFT and EFT seed sets.

Every error names ``file:line`` and the offending key, so a user can fix a bad row without
reading a traceback. Extra keys in a row are kept (they travel to later stages untouched).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from srlm.errors import UserError, at_line

# Score range of the additive 5-point judge prompt (section 1 of the spec).
SCORE_MIN, SCORE_MAX = 0, 5

# Longest text a seed row may hold. Far above any instruction-tuning example (oasst1's longest
# messages are tens of thousands of characters), far below what makes prompt building and
# generation ask for absurd memory.
MAX_TEXT_CHARS = 100_000


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """Read a JSONL file (or ``.jsonl.gz``) into ``(line_number, row)`` pairs; blank lines skip.

    Raises ``UserError`` for a missing file, invalid UTF-8, a broken JSON line, or a line that
    is not a JSON object.
    """
    path = Path(path)
    data = _read_bytes(path)
    rows: list[tuple[int, dict]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        rows.append((number, _parse_line(path, number, raw)))
    return rows


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz`` (how oasst1 is published)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a JSONL file") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: cannot read file ({exc})") from None


def _parse_line(path: Path, number: int, raw: bytes) -> dict:
    """Decode one JSONL line into a dict, raising a located ``UserError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise at_line(path, number, f"invalid UTF-8 at byte {exc.start}") from None
    if number == 1:
        text = text.removeprefix("\ufeff")  # a byte-order mark left by some Windows editors
    try:
        row = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise at_line(path, number, f"invalid JSON ({exc.msg}, column {exc.colno})") from None
    except ValueError as exc:  # ours (_Refused), or Python's limit on an integer's digits
        raise at_line(path, number, f"invalid JSON ({str(exc).split(';')[0]})") from None
    except RecursionError:
        raise at_line(path, number, "invalid JSON (nested too deeply)") from None
    if not isinstance(row, dict):
        raise at_line(path, number, f"expected a JSON object, got {type(row).__name__}")
    return row


class _Refused(ValueError):
    """JSON that Python's parser accepts but the JSON standard (RFC 8259) does not, or that is ambiguous."""


def _no_constant(name: str) -> None:
    # Python reads NaN and Infinity, which are not JSON; a NaN score would poison every mean.
    raise _Refused(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An object whose keys are unique: with a repeated key, which value was meant is unknown."""
    row: dict = {}
    for key, value in pairs:
        if key in row:
            raise _Refused(f"duplicate key {key!r} in one object")
        row[key] = value
    return row


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Write rows as JSONL atomically: ``path.tmp`` first, then ``os.replace`` onto ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def bundled_path(name: str) -> Path:
    """Path of a data file shipped in ``srlm/data/bundled/`` (e.g. ``"ift_seed.jsonl"``)."""
    resource = resources.files("srlm.data").joinpath("bundled", name)
    if not resource.is_file():
        raise UserError(f"no bundled data file named {name!r}")
    return Path(str(resource))


# ---------------------------------------------------------------------------------------------
# Field checks shared by both loaders


def _not_empty(path: Path, rows: list[dict]) -> list[dict]:
    """A seed file without rows is a mistake, not an empty data set."""
    if not rows:
        raise UserError(f"{path}: no rows (the file is empty or holds only blank lines)")
    return rows


def _text(path: Path, line: int, row: dict, key: str, where: str = "") -> str:
    """Return ``row[key]`` as a non-blank string or raise naming ``file:line`` and the key."""
    label = f"{where}{key}"
    if key not in row:
        raise at_line(path, line, f"missing required key {label!r}")
    value = row[key]
    if not isinstance(value, str):
        raise at_line(path, line, f"key {label!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise at_line(path, line, f"key {label!r} is empty or whitespace-only")
    if len(value) > MAX_TEXT_CHARS:
        raise at_line(path, line, f"key {label!r} holds {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise at_line(path, line, f"key {label!r} contains a lone surrogate (an invalid \\ud800-\\udfff escape)") from None
    return value


def _assign_id(path: Path, line: int, row: dict, seen: set[str]) -> None:
    """Check an explicit id (string, non-blank, unique) or give the row ``<stem>-<line>``."""
    if "id" in row:
        _text(path, line, row, "id")
    else:
        row["id"] = f"{path.stem}-{line}"
    if row["id"] in seen:
        raise at_line(path, line, f"duplicate id {row['id']!r} (key 'id')")
    seen.add(row["id"])


def load_ift(path: str | Path) -> list[dict]:
    """Load and validate an IFT file: rows ``{"id"?, "prompt", "response", ...extra}``."""
    path = Path(path)
    rows: list[dict] = []
    seen: set[str] = set()
    for line, row in read_jsonl(path):
        _text(path, line, row, "prompt")
        _text(path, line, row, "response")
        _assign_id(path, line, row, seen)
        rows.append(row)
    return _not_empty(path, rows)


def load_eft(path: str | Path) -> list[dict]:
    """Load and validate an EFT file.

    Rows are ``{"id"?, "prompt", "responses": [...]}``; each response is ``{"text", "rank"}``
    (int >= 0, 0 = best, the Open Assistant convention) or ``{"text", "score"}`` (number in
    [0, 5], higher = better), optionally with a ``"judgment"`` string. One row uses either
    ranks or scores, never both.
    """
    path = Path(path)
    rows: list[dict] = []
    seen: set[str] = set()
    for line, row in read_jsonl(path):
        _text(path, line, row, "prompt")
        _check_responses(path, line, row)
        _assign_id(path, line, row, seen)
        rows.append(row)
    return _not_empty(path, rows)


def _check_responses(path: Path, line: int, row: dict) -> None:
    """Validate the ``responses`` list of one EFT row."""
    responses = row.get("responses")
    if responses is None:
        raise at_line(path, line, "missing required key 'responses'")
    if not isinstance(responses, list):
        raise at_line(path, line, f"key 'responses' must be a list, got {type(responses).__name__}")
    if not responses:
        raise at_line(path, line, "key 'responses' is empty (need at least 1 response)")
    kinds = {_check_response(path, line, i, r) for i, r in enumerate(responses)}
    if len(kinds) > 1:
        raise at_line(path, line, "key 'responses' mixes 'rank' and 'score'; use one of them")


def _check_response(path: Path, line: int, index: int, resp: Any) -> str:
    """Validate one response; return which grade it carries: ``"rank"`` or ``"score"``."""
    where = f"responses[{index}]."
    if not isinstance(resp, dict):
        raise at_line(path, line, f"key 'responses[{index}]' must be an object")
    _text(path, line, resp, "text", where)
    if "judgment" in resp:
        _text(path, line, resp, "judgment", where)
    has_rank, has_score = "rank" in resp, "score" in resp
    if has_rank == has_score:
        raise at_line(path, line, f"key '{where}rank' or '{where}score' required (exactly one)")
    if has_rank:
        _check_rank(path, line, where, resp["rank"])
        return "rank"
    _check_score(path, line, where, resp["score"])
    return "score"


def _check_rank(path: Path, line: int, where: str, rank: Any) -> None:
    # bool is an int subclass in Python; `true` as a rank is a data bug, not rank 1.
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise at_line(path, line, f"key '{where}rank' must be an integer, got {rank!r}")
    if rank < 0:
        raise at_line(path, line, f"key '{where}rank' must be >= 0 (0 = best), got {rank}")


def _check_score(path: Path, line: int, where: str, score: Any) -> None:
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise at_line(path, line, f"key '{where}score' must be a number, got {score!r}")
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise at_line(
            path, line, f"key '{where}score' must be in [{SCORE_MIN}, {SCORE_MAX}], got {score}"
        )
