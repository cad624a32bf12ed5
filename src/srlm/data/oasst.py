"""Open Assistant (oasst1) importer: first-turn IFT rows and human-ranked EFT groups.

Yuan et al. 2024 seed the actor with first-turn, English, rank-0 oasst1 conversations and
evaluate the judge on prompts with several human-ranked answers (Yuan et al. 2024, section 3.1).

Two export formats are read, detected from the first row (plain or ``.gz``):

- **messages**: one message per line, ``{"message_id", "parent_id" (null for a root), "role"
  ("prompter" | "assistant"), "text", "lang", "rank" (int | null), "deleted"?,
  "review_result"?, "message_tree_id"?}``;
- **trees**: one conversation tree per line, ``{"message_tree_id", "prompt": {<message>,
  "replies": [<message with its own "replies">, ...]}}``; a message's parent is implied by
  nesting.

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

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
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


def import_oasst(path: str | Path, lang: str | None = "en") -> OasstImport:
    """Import an oasst1 export (messages or trees format); ``lang=None`` keeps all languages.

    Raises ``UserError`` naming ``file:line`` and the key for malformed input.
    """
    path = Path(path)
    lines = read_jsonl(path)
    if not lines:
        raise UserError(f"{path}: no messages in file")
    if _is_tree(lines[0][1]):
        messages = [m for line, row in lines for m in _tree_messages(path, line, row)]
    else:
        messages = [_message(path, line, row, "", _NO_PARENT) for line, row in lines]
    _check_unique(path, messages)
    return _build(messages, lang)


def _is_tree(row: dict) -> bool:
    """Trees have a nested ``prompt`` object and no ``message_id`` of their own."""
    return "message_id" not in row and isinstance(row.get("prompt"), dict)


def _tree_messages(path: Path, line: int, row: dict) -> list[_Message]:
    """Flatten one tree (breadth first; a loop, not recursion, so deep trees are safe)."""
    if not isinstance(row.get("prompt"), dict):
        raise at_line(path, line, "key 'prompt' must be a message object (tree format)")
    tree_id = row.get("message_tree_id")
    out: list[_Message] = []
    queue: deque[tuple[dict, str, str | None]] = deque([(row["prompt"], "prompt.", None)])
    while queue:
        node, where, parent = queue.popleft()
        message = _message(path, line, node, where, parent, tree_id)
        out.append(message)
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
    )


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
    # bool is an int subclass; `true` as a rank is a broken export, not rank 1.
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise fail("rank", f"must be an integer >= 0 or null, got {rank!r}")
    return rank


def _check_unique(path: Path, messages: list[_Message]) -> None:
    seen: dict[str, int] = {}
    for m in messages:
        if m.id in seen:
            first = seen[m.id]
            raise at_line(path, m.line, f"duplicate message_id {m.id!r} (first at line {first})")
        seen[m.id] = m.line


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
    result = OasstImport(messages=len(messages))
    for root in roots.values():
        _add_rows(root, replies[root.id], result, dropped)
    result.dropped = dict(sorted(dropped.items()))
    return result


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
    extra = {"source": "oasst1", "message_tree_id": root.tree_id, "lang": root.lang}
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
