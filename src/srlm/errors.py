"""The one exception type for mistakes a user can fix (bad file, bad config, missing model).

The CLI turns a ``UserError`` into one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user: the message says where (file, line, key) and what is wrong."""

    exit_code = 2


def at_line(path: str | Path, line: int, message: str) -> UserError:
    """A ``UserError`` located at ``path:line``."""
    return UserError(f"{path}:{line}: {message}")
