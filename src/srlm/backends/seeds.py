"""Per-request seeds for engines that take one seed per request (vLLM, HTTP servers)."""

from __future__ import annotations

import hashlib


def row_seed(seed: int, conversation: int, sample: int = 0) -> int:
    """A 31-bit seed for one (conversation, sample) request, stable across machines.

    Servers that ignore ``n`` are asked once per sample; each request needs its own seed,
    otherwise a seeded server returns the same text ``n`` times.

    >>> row_seed(0, 0) == row_seed(0, 0), row_seed(0, 0) != row_seed(0, 0, 1)
    (True, True)
    """
    digest = hashlib.sha256(f"{seed}|{conversation}|{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
