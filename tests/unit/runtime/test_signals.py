"""Polite stops: a signal outside a write stops at once; inside ``deferred()`` it waits for the end."""

from __future__ import annotations

import os
import signal

import pytest

from srlm.errors import Stopped
from srlm.runtime.signals import deferred, stoppable


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_a_write_waits_for_its_end(signum: int) -> None:
    done = []
    with pytest.raises(Stopped) as stop:
        with stoppable("srlm run x.yaml"):
            with deferred():
                os.kill(os.getpid(), signum)
                done.append("rest of the write")  # still runs: the stop is held
            done.append("after the write")  # never runs
    assert done == ["rest of the write"]
    assert stop.value.exit_code == 128 + signum
    assert str(stop.value).endswith("to continue the run: srlm run x.yaml")


def test_a_signal_outside_a_write_stops_at_once_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as stop:
        with stoppable("srlm run x.yaml"):
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("not stopped")
    assert stop.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == before


def test_nested_writes_stop_after_the_outermost() -> None:
    order = []
    with pytest.raises(Stopped):
        with stoppable("srlm run x.yaml"):
            with deferred():
                with deferred():
                    os.kill(os.getpid(), signal.SIGINT)
                order.append("outer write goes on")
    assert order == ["outer write goes on"]


def test_deferred_outside_stoppable_changes_nothing() -> None:
    with deferred():
        pass  # no handler installed: nothing pending, nothing raised
