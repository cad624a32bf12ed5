"""A fixed prompt pool read from a JSONL file: one row per prompt, its text in ``"prompt"``.

MR (Wu et al. 2024, section 4.1) samples each iteration's prompts from one pool of 20,000
written by Llama-2-70B-Chat; a researcher who has such a pool gives it as
``prompt_gen.pool_file``. Bad rows are errors naming ``file:line``; exact repeats are dropped
and counted (a repeated prompt would be sampled twice, in one iteration or in two).
"""

from __future__ import annotations

from pathlib import Path

from srlm.data.seed import MAX_TEXT_CHARS, read_jsonl
from srlm.errors import UserError, at_line


def read_pool_file(path: str | Path) -> tuple[list[dict], dict]:
    """The pool's prompt rows (ids ``pool-p<k>``) and its counts; ``UserError`` on a bad file."""
    rows, seen, repeats = [], set(), 0
    for number, row in read_jsonl(path):
        prompt = _prompt(path, number, row)
        if prompt in seen:
            repeats += 1
            continue
        seen.add(prompt)
        rows.append({"id": f"pool-p{len(rows):04d}", "prompt": prompt, "source_id": f"{Path(path).name}:{number}", "fewshot_ids": []})
    if not rows:
        raise UserError(f"{path}: no prompts (expected JSONL rows like {{\"prompt\": \"...\"}})")
    stats = {"source": "file", "file": str(path), "rows": len(rows) + repeats, "kept": len(rows), "dropped": {"exact_duplicate": repeats}}
    return rows, stats


def _prompt(path: str | Path, number: int, row: dict) -> str:
    if "prompt" not in row:
        raise at_line(path, number, f"missing field 'prompt' (fields: {', '.join(sorted(row)) or 'none'})")
    prompt = row["prompt"]
    if not isinstance(prompt, str):
        raise at_line(path, number, f"field 'prompt' must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise at_line(path, number, "field 'prompt' is empty")
    if len(prompt) > MAX_TEXT_CHARS:
        raise at_line(path, number, f"field 'prompt' has {len(prompt)} characters (at most {MAX_TEXT_CHARS})")
    return prompt.strip()
