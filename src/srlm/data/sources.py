"""Where seed data comes from: a bundled set by name, a user's file, never evaluation data.

``builtin:<name>`` names a file shipped in ``srlm/data/bundled/``. The AlpacaEval prompts (cached
by ``srlm alpaca fetch`` under ``alpaca_cache()``) measure the model; training on them, or
showing them as few-shot examples, would void that measurement, so they are refused here.
"""

from __future__ import annotations

from pathlib import Path

from srlm.data.seed import bundled_path
from srlm.errors import UserError


def alpaca_cache() -> Path:
    """``<srlm cache>/alpaca_eval``: the only place AlpacaEval data is written."""
    from srlm.runtime.models import cache_dir

    return cache_dir() / "alpaca_eval"


def is_eval_only(path: str | Path) -> bool:
    """Whether ``path`` lies inside the AlpacaEval cache (never seed or few-shot data)."""
    try:
        Path(path).resolve().relative_to(alpaca_cache().resolve())
    except ValueError:
        return False
    return True


def seed_source(spec: str) -> Path:
    """The file behind a ``data.*`` config value: ``builtin:<name>`` or a path (never AlpacaEval's)."""
    if spec.startswith("builtin:"):
        try:
            return bundled_path(spec.split(":", 1)[1] + ".jsonl")
        except Exception:  # noqa: BLE001
            raise UserError(f"config key 'data': no bundled data set named '{spec}'") from None
    if is_eval_only(spec):  # AlpacaEval prompts measure the model; training on them voids that
        raise UserError(f"config key 'data': {spec} is AlpacaEval evaluation data, never seed data")
    return Path(spec)
