"""Polite stops: SIGINT (Ctrl-C) and SIGTERM (a job scheduler's warning before SIGKILL).

Inside ``stoppable(command)`` either signal stops the run at once, except while a write is
under way: ``deferred()`` (around every write of the run directory: an atomic rename, a chunk
of rows appended, a checkpoint save) holds the stop until the write is finished. The run then
raises ``Stopped`` with exit status 128 + signal (130, 143) and a message holding the command
that continues the run. What was written is complete; generation resumes at the first chunk
not yet appended. A stop during training saves nothing: the model being trained is not marked
complete, so the same command trains it again from M(t) (a partial model would not be the
model the config describes).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from srlm.errors import Stopped

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    active = False  # inside stoppable(): the handlers are installed
    depth = 0  # nesting of deferred() sections
    pending: int | None = None  # a signal that arrived during a write


def _stop(signum: int) -> Stopped:
    name = signal.Signals(signum).name
    return Stopped(f"stopped by {name}: every file written so far is complete", signum)


def _handler(signum: int, frame: Any) -> None:
    if _State.depth:
        _State.pending = signum  # finish the write first; deferred() raises when it ends
        return
    raise _stop(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside: a stop waits until the block has finished (a write is never left half done)."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if _State.depth == 0 and _State.pending is not None and _State.active:
        signum, _State.pending = _State.pending, None
        raise _stop(signum)


@contextmanager
def stoppable(command: str) -> Iterator[None]:
    """Inside: SIGINT and SIGTERM stop the run politely; the ``Stopped`` error names ``command``
    as the way to continue. Outside the main thread (where Python cannot take signals) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in STOP_SIGNALS}
    _State.active, _State.pending = True, None
    try:
        yield
    except Stopped as exc:
        raise Stopped(f"{exc}; to continue the run: {command}", exc.exit_code - 128) from None
    finally:
        _State.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
