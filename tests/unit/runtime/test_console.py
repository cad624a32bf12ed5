"""The console's stage lines and their estimate of the time left; bars as log lines."""

from __future__ import annotations

import logging
import re

import pytest

from srlm.runtime import console


def test_time_left_is_unknown_until_every_stage_to_come_was_timed() -> None:
    clock = console.Clock(2, ["prompts", "train"])
    steps = clock.steps
    assert [s.key for s in steps] == [(0, "seed_data"), (0, "sft"), (1, "eval"), (1, "prompts"), (1, "train"), (2, "eval"), (2, "prompts"), (2, "train"), (3, "eval")]
    clock.measured = {"eval": [10.0], "prompts": [60.0]}
    assert clock.left(steps[4]) is None  # iteration 2's training has no measure yet
    clock.measured["train"] = [100.0, 200.0]
    assert clock.left(steps[4]) == pytest.approx(10 + 60 + 150 + 10)  # the means of what is to come
    assert clock.left(steps[-1]) == 0


def test_a_stage_that_ran_gets_one_line_and_one_that_was_done_none(caplog: pytest.LogCaptureFixture) -> None:
    clock = console.Clock(1, ["prompts"], evaluate=False)
    with caplog.at_level(logging.INFO, logger="srlm.console"):
        with clock.stage(0, "seed_data") as info:
            info.update(ran=False)
        with clock.stage(1, "prompts") as info:
            info["rows"] = 64
    # The seconds are the machine's (a loaded machine may take one); the line's shape is the test.
    assert len(caplog.records) == 1 and re.fullmatch(r"\[iter 1/1 · stage 1/1\] prompts: 64 rows, \d+ s · time left none", caplog.records[0].getMessage())
    assert list(clock.measured) == ["prompts"]


def test_a_failed_stage_prints_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = console.Clock(1, ["prompts"])
    with caplog.at_level(logging.INFO, logger="srlm.console"), pytest.raises(RuntimeError):
        with clock.stage(1, "prompts"):
            raise RuntimeError("boom")
    assert caplog.records == [] and clock.measured == {}


def test_a_bar_becomes_log_lines_without_escapes_or_repeats(caplog: pytest.LogCaptureFixture) -> None:
    stream = console.BarStream()
    with caplog.at_level(logging.INFO, logger="srlm.progress"):
        for text in ("\rjudging:  50%|##   | 1/2", "\x1b[A", "\rjudging: 100%|#####| 2/2", "\rjudging: 100%|#####| 2/2", "\n"):
            stream.write(text)
    assert [r.getMessage() for r in caplog.records] == ["judging:  50%|##   | 1/2", "judging: 100%|#####| 2/2"]
