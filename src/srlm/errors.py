"""The one exception type for mistakes a user can fix (bad file, bad config, missing model).

The CLI turns a ``UserError`` into one line on stderr and exit status 2, never a traceback.
Two subclasses have their own status, so that a job scheduler can tell them apart: a disk that
is full (75, ``EX_TEMPFAIL`` of sysexits.h: free space and retry) and a polite stop by SIGINT or
SIGTERM (130 / 143, the shell's 128 + signal number).
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user: the message says where (file, line, key) and what is wrong."""

    exit_code = 2


class DiskFull(UserError):
    """A write failed for want of space (ENOSPC, EDQUOT): the run can continue once space is freed."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure; the same command may be retried


class Stopped(BaseException):
    """The run was stopped by SIGINT or SIGTERM between two writes; it can be continued.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception`` (nor an
    ``except UserError`` that rewords a message) turns a stop into another error.
    """

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


def at_line(path: str | Path, line: int, message: str) -> UserError:
    """A ``UserError`` located at ``path:line``."""
    return UserError(f"{path}:{line}: {message}")
