"""Open Assistant (oasst1) importer: first-turn IFT rows and human-ranked EFT groups.

Yuan et al. 2024 seed the actor with first-turn, English, rank-0 oasst1 conversations and
evaluate the judge on prompts with several human-ranked answers (Yuan et al. 2024, section 3.1).

Two export formats are read, detected from the first row (plain or ``.gz`` JSONL; or the
Hugging Face dataset's ``.parquet`` files, one message per row):

- **messages**: one message per line, ``{"message_id", "parent_id" (null for a root), "role"
  ("prompter" | "assistant"), "text", "lang", "rank" (int | null), "deleted"?,
  "review_result"?, "message_tree_id"?, "split"?}``;
- **trees**: one conversation tree per line, ``{"message_tree_id", "prompt": {<message>,
  "replies": [<message with its own "replies">, ...]}}``; a message's parent is implied by
  nesting.

oasst1's own train/validation split (by tree) is kept when the export carries it: a message's
or tree's ``split`` key, else the file name (``...train...`` / ``...validation...``, as the
Hugging Face dataset names its files). Several files can be read at once (e.g. the dataset's
train and validation files); rows carry ``split`` where it is known.

Every message read ends up either used or counted once in ``dropped`` under the first reason
that applies (message-level reasons, in order):

- a root: ``deleted``, ``review_rejected``, ``lang_mismatch``, ``empty_text``,
  ``root_not_prompter``;
- any other message: ``orphan`` (parent not in the file), ``not_first_turn`` (a reply to a
  reply: out of scope), ``parent_dropped``, ``unexpected_role`` (a prompter replying to the
  root), then the root's reasons.

Prompt-level reasons count kept root prompts that yield no row: ``no_rank0_reply`` (no IFT
row), ``fewer_than_2_ranked`` (no EFT group), ``duplicate_ranks`` (two kept replies share a
rank: neither row, since the human order is unclear).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from srlm.data.seed import read_jsonl
from srlm.errors import UserError, at_line

_ROLES = ("prompter", "assistant")
_NO_PARENT = object()  # messages format: the key itself must be present, null for a root


@dataclass
class OasstImport:
    """What an import produced: IFT rows, EFT ranked groups, and drop counts by reason."""

    ift: list[dict] = field(default_factory=list)
    eft: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    messages: int = 0  # messages read (used + message-level drops)
    languages: dict[str, int] = field(default_factory=dict)  # root prompts read, by language
    ranked_replies: int = 0  # messages with a rank (null on every one: no human rankings)
    first_line: dict[str, str] = field(default_factory=dict)  # "file:line" of the first root / reply / short tree


@dataclass(frozen=True)
class _Message:
    id: str
    parent_id: str | None
    role: str
    text: str
    lang: str | None
    rank: int | None
    deleted: bool
    review_result: bool | None
    tree_id: str | None
    line: int
    split: str | None = None
    where: str = ""  # "file:line", for messages about the data as a whole


def import_oasst(paths: str | Path | Sequence[str | Path], lang: str | None = "en") -> OasstImport:
    """Import oasst1 export files (messages or trees format); ``lang=None`` keeps all languages.

    Raises ``UserError`` naming ``file:line`` and the key for malformed input.
    """
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    messages = [m for path in files for m in _file_messages(path)]
    _check_unique(messages)
    return _build(messages, lang)


def _file_messages(path: Path) -> list[_Message]:
    """Every message of one file, each knowing its file:line and (when known) its split."""
    lines = _read_parquet(path) if path.suffix == ".parquet" else read_jsonl(path)
    if not lines:
        raise UserError(f"{path}: no messages in file")
    if _is_tree(lines[0][1]):
        messages = [m for line, row in lines for m in _tree_messages(path, line, row)]
    else:
        messages = [_message(path, line, row, "", _NO_PARENT) for line, row in lines]
    named = split_from_name(path)
    return [replace(m, split=m.split or named, where=f"{path}:{m.line}") for m in messages]


def _read_parquet(path: Path) -> list[tuple[int, dict]]:
    """Rows of a Hugging Face ``.parquet`` file, numbered from 1 like lines."""
    import pyarrow.parquet as pq  # installed with `datasets`

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001  (pyarrow raises its own error types)
        raise UserError(f"{path}: cannot read parquet file ({exc})") from None
    return list(enumerate(table.to_pylist(), start=1))


_SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation"}


def split_from_name(path: Path) -> str | None:
    """oasst1's split from a file name: a ``train`` or ``validation`` word in it, else ``None``.

    >>> split_from_name(Path("validation-00000-of-00001.parquet")), split_from_name(Path("oasst1_train.jsonl"))
    ('validation', 'train')
    >>> split_from_name(Path("2023-04-12_oasst_ready.trees.jsonl.gz")) is None
    True
    """
    words = set(re.split(r"[^a-z]+", path.name.lower()))
    found = {_SPLIT_NAMES[w] for w in words if w in _SPLIT_NAMES}
    return found.pop() if len(found) == 1 else None


def _is_tree(row: dict) -> bool:
    """Trees have a nested ``prompt`` object and no ``message_id`` of their own."""
    return "message_id" not in row and isinstance(row.get("prompt"), dict)


def _tree_messages(path: Path, line: int, row: dict) -> list[_Message]:
    """Flatten one tree (breadth first; a loop, not recursion, so deep trees are safe)."""
    if not isinstance(row.get("prompt"), dict):
        raise at_line(path, line, "key 'prompt' must be a message object (tree format)")
    tree_id = row.get("message_tree_id")
    split = _split_key(path, line, row, "")
    out: list[_Message] = []
    queue: deque[tuple[dict, str, str | None]] = deque([(row["prompt"], "prompt.", None)])
    while queue:
        node, where, parent = queue.popleft()
        message = _message(path, line, node, where, parent, tree_id)
        out.append(replace(message, split=message.split or split))
        replies = node.get("replies", [])
        if not isinstance(replies, list):
            raise at_line(path, line, f"key '{where}replies' must be a list")
        for i, reply in enumerate(replies):
            if not isinstance(reply, dict):
                raise at_line(path, line, f"key '{where}replies[{i}]' must be a message object")
            queue.append((reply, f"{where}replies[{i}].", message.id))
    return out


def _message(
    path: Path, line: int, row: dict, where: str, parent: Any, tree_id: Any = None
) -> _Message:
    """Validate one message; ``parent`` is ``_NO_PARENT`` when it must be read from the row."""

    def fail(key: str, problem: str) -> UserError:
        return at_line(path, line, f"key '{where}{key}' {problem}")

    message_id = row.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise fail("message_id", "is required and must be a non-empty string")
    if parent is _NO_PARENT:
        if "parent_id" not in row:
            raise fail("parent_id", "is required (null for a conversation's first message)")
        parent = row["parent_id"]
        if parent is not None and not isinstance(parent, str):
            raise fail("parent_id", "must be a string or null")
    role = row.get("role")
    if role not in _ROLES:
        raise fail("role", f"must be 'prompter' or 'assistant', got {role!r}")
    text = row.get("text")
    if not isinstance(text, str):
        raise fail("text", "is required and must be a string")
    return _Message(
        id=message_id,
        parent_id=parent,
        role=role,
        text=text.strip(),
        lang=_optional(row, "lang", str, fail),
        rank=_rank(row, fail),
        deleted=bool(_optional(row, "deleted", bool, fail)),
        review_result=_optional(row, "review_result", bool, fail),
        tree_id=row.get("message_tree_id", tree_id),
        line=line,
        split=_split_key(path, line, row, where),
    )


def _split_key(path: Path, line: int, row: dict, where: str) -> str | None:
    """oasst1's own split of a row, ``"train"`` or ``"validation"``, when the row says it."""
    value = row.get("split")
    if value is None:
        return None
    if value not in ("train", "validation"):
        raise at_line(path, line, f"key '{where}split' must be 'train', 'validation' or null, got {value!r}")
    return value


def _optional(row: dict, key: str, kind: type, fail: Any) -> Any:
    """``row[key]`` when it is absent, null or of ``kind``; anything else is an error."""
    value = row.get(key)
    if value is not None and not isinstance(value, kind):
        raise fail(key, f"must be a {kind.__name__} or null, got {value!r}")
    return value


def _rank(row: dict, fail: Any) -> int | None:
    rank = row.get("rank")
    if rank is None:
        return None
    if isinstance(rank, float) and rank.is_integer():
        rank = int(rank)  # the Hugging Face dataset stores ranks as floats (nulls force float64)
    # bool is an int subclass; `true` as a rank is a broken export, not rank 1.
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise fail("rank", f"must be an integer >= 0 or null, got {rank!r}")
    return rank


def _check_unique(messages: list[_Message]) -> None:
    seen: dict[str, _Message] = {}
    for m in messages:
        if m.id in seen:
            first = seen[m.id]
            at = f"line {first.line}" if first.where.rsplit(":", 1)[0] == m.where.rsplit(":", 1)[0] else first.where
            raise UserError(f"{m.where}: duplicate message_id {m.id!r} (first at {at})")
        seen[m.id] = m


def _build(messages: list[_Message], lang: str | None) -> OasstImport:
    """Pick kept roots and their kept first replies, then make the rows."""
    dropped: Counter[str] = Counter()
    by_id = {m.id: m for m in messages}
    roots: dict[str, _Message] = {}
    for m in messages:
        if m.parent_id is None:
            reason = _unusable(m, lang) or ("root_not_prompter" if m.role != "prompter" else None)
            if reason:
                dropped[reason] += 1
            else:
                roots[m.id] = m
    replies: dict[str, list[_Message]] = defaultdict(list)
    for m in messages:
        if m.parent_id is not None:
            reason = _reply_problem(m, by_id, roots, lang)
            if reason:
                dropped[reason] += 1
            else:
                replies[m.parent_id].append(m)
    result = _summary(messages)
    for root in roots.values():
        _add_rows(root, replies[root.id], result, dropped)
    result.dropped = dict(sorted(dropped.items()))
    return result


def _summary(messages: list[_Message]) -> OasstImport:
    """What the files hold, for the messages that explain an import left with nothing."""
    roots = [m for m in messages if m.parent_id is None]
    first = {"root": next((m.where for m in roots), ""),
             "reply": next((m.where for m in messages if m.parent_id is not None), "")}
    languages = Counter(m.lang or "unknown" for m in roots)
    return OasstImport(messages=len(messages), languages=dict(languages.most_common()),
                       ranked_replies=sum(m.rank is not None for m in messages if m.parent_id is not None),
                       first_line={k: v for k, v in first.items() if v})


def _unusable(m: _Message, lang: str | None) -> str | None:
    """Why a message cannot be used whatever its place in the tree, or ``None``."""
    if m.deleted:
        return "deleted"
    if m.review_result is False:  # reviewers rejected it; None means "not reviewed"
        return "review_rejected"
    if lang is not None and m.lang != lang:
        return "lang_mismatch"
    if not m.text:
        return "empty_text"
    return None


def _reply_problem(
    m: _Message, by_id: dict[str, _Message], roots: dict[str, _Message], lang: str | None
) -> str | None:
    """Why a non-root message is not a usable first-turn assistant reply, or ``None``."""
    parent = by_id.get(m.parent_id or "")
    if parent is None:
        return "orphan"
    if parent.parent_id is not None:
        return "not_first_turn"
    if parent.id not in roots:
        return "parent_dropped"
    if m.role != "assistant":
        return "unexpected_role"
    return _unusable(m, lang)


def _add_rows(
    root: _Message, replies: list[_Message], result: OasstImport, dropped: Counter[str]
) -> None:
    """The IFT row (root + rank-0 reply) and the EFT group (all ranked replies) of one root."""
    ranked = sorted((r for r in replies if r.rank is not None), key=lambda r: r.rank or 0)
    ranks = [r.rank for r in ranked]
    if len(set(ranks)) != len(ranks):
        dropped["duplicate_ranks"] += 1
        return
    # A root's id names its tree when the export has no tree id: a tree is the unit of the split.
    extra = {"source": "oasst1", "message_tree_id": root.tree_id or root.id, "lang": root.lang, "split": root.split}
    extra = {k: v for k, v in extra.items() if v is not None}
    if ranked and ranked[0].rank == 0:
        row = {"id": f"oasst-{root.id}", "prompt": root.text, "response": ranked[0].text}
        result.ift.append(row | extra)
    else:
        dropped["no_rank0_reply"] += 1
    if len(ranked) >= 2:
        responses = [{"text": r.text, "rank": r.rank} for r in ranked]
        row = {"id": f"oasst-{root.id}", "prompt": root.text, "responses": responses}
        result.eft.append(row | extra)
    else:
        dropped["fewer_than_2_ranked"] += 1
        result.first_line.setdefault("short_tree", f"{root.where} ({len(ranked)} ranked repl{'y' if len(ranked) == 1 else 'ies'})")


def check_usable(result: OasstImport, lang: str | None) -> None:
    """Refuse an import that leaves nothing to train or measure a judge on, saying why and where.

    Three exports end here: one in another language than ``lang``, one without human ranks
    (every ``rank`` null), and one whose trees have fewer than two ranked replies each.
    """
    where = result.first_line
    if lang is not None and result.languages and lang not in result.languages:
        found = ", ".join(f"{code} ({n})" for code, n in list(result.languages.items())[:5])
        raise UserError(f"{where.get('root', '?')}: no conversation in language {lang!r} (--lang {lang}); "
                        f"the export's prompts are in {found}: pass --lang with one of them, or --lang all")
    if result.ranked_replies == 0:
        raise UserError(f"{where.get('reply') or where.get('root', '?')}: key 'rank' is null or missing on every reply: "
                        "this export has no human rankings (oasst1's *_ready* trees or messages export, or the Hugging Face dataset, has them)")
    if not result.eft:
        raise UserError(f"{where.get('short_tree') or where.get('root', '?')}: no prompt has two or more ranked first-turn replies"
                        f"{'' if lang is None else f' in language {lang!r}'}; the judge sets need human-ranked groups (dropped: {result.dropped})")
