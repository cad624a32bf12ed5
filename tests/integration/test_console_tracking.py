"""``srlm run`` on the tiny model: a quiet console, the whole output in run.log, TensorBoard
event files holding the training curves and the loop's metrics, trainer_state.json per model.

One run (one iteration, report_to=tensorboard) through the CLI's
``main``, with the scripted judge, then the same command with -v on the finished run. The
console is what reaches ``sys.stdout`` and ``sys.stderr``, with a root log handler on stderr as
``srlm``'s ``logging.basicConfig`` sets up outside pytest.
"""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import srlm.backends
from srlm.cli import main
from tests.helpers.scripted import scripted_factory, tiny_overrides

OVERRIDES = ("iterations=1", "report_to=tensorboard")
# seed data, sft; eval, prompts, candidates, judgments, pairs, train; the final eval
STAGES = 9


def _srlm_run(model: Path, runs: Path, *flags: str) -> tuple[list[str], str]:
    """stdout's lines and stderr of ``srlm [flags] run`` (the scripted judge stands in for the model's)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.setattr(srlm.backends, "make_backend", scripted_factory)
        handler = logging.StreamHandler()  # on sys.stderr, redirected: what basicConfig adds
        logging.getLogger().addHandler(handler)
        try:
            code = main([*flags, "run", "", *tiny_overrides(model, runs, *OVERRIDES)])
        finally:
            logging.getLogger().removeHandler(handler)
    assert code == 0, err.getvalue()[-3000:]
    return out.getvalue().splitlines(), err.getvalue()


@pytest.fixture(scope="module")
def finished(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    runs = tmp_path_factory.mktemp("console")
    quiet, quiet_err = _srlm_run(tiny_model_dir, runs)
    log_after_first = (runs / "t" / "run.log").read_text(encoding="utf-8")
    verbose, verbose_err = _srlm_run(tiny_model_dir, runs, "-v")
    return {"root": runs / "t", "quiet": quiet, "quiet_err": quiet_err, "verbose": verbose + verbose_err.splitlines(), "log_after_first": log_after_first}


def test_console_shows_a_banner_one_line_per_stage_and_a_summary(finished: dict) -> None:
    lines = finished["quiet"]
    assert lines[0].startswith("srlm: starting ") and " · 1 iteration · " in lines[0]
    stage_lines = [line for line in lines if re.match(r"\[(M1|iter 1/1|final) · stage \d/\d\] ", line)]
    assert len(stage_lines) == STAGES and len(lines) == STAGES + 2, "\n".join(lines)
    assert lines[-1].startswith("srlm: done in ") and str(finished["root"] / "run.log") in lines[-1]
    assert finished["quiet_err"] == ""  # stderr is kept for an error
    # An honest estimate: none before a whole iteration was measured, then a figure.
    assert "time left unknown" in stage_lines[2] and "time left unknown" not in stage_lines[-1]


def test_run_log_holds_what_the_console_does_not(finished: dict) -> None:
    first = finished["log_after_first"]
    for expected in ("Loading weights", "M1 sft step 1/", "M2 dpo step 1/", "iter1 judgments:", "srlm.console: [iter 1/1 · stage 6/6] train"):
        assert expected in first
    assert not any("Loading weights" in line or "{'loss'" in line for line in finished["quiet"])
    # Appended, not replaced: a second start adds a separator and its own lines.
    whole = (finished["root"] / "run.log").read_text(encoding="utf-8")
    assert whole.startswith(first) and whole.count("\n===== ") == 2 and first.count("\n===== ") == 1


def test_verbose_console_shows_the_log_too(finished: dict) -> None:
    lines = finished["verbose"]
    assert any("srlm: continuing " in line for line in lines)
    assert any(line.startswith("run finished in ") for line in lines)  # srlm's own log, not a console line
    # Nothing ran again: no stage line, one summary.
    assert not any(" · stage " in line for line in lines)


def test_trainer_state_is_kept_beside_each_model(finished: dict) -> None:
    from transformers import TrainerState

    for t, steps in ((1, json.loads((finished["root"] / "M1" / "train.json").read_text())["steps"]), (2, 1)):
        state = TrainerState.load_from_json(str(finished["root"] / f"M{t}" / "trainer_state.json"))
        losses = [entry["step"] for entry in state.log_history if "loss" in entry]
        assert state.global_step == steps and losses == list(range(1, steps + 1))


def test_tensorboard_holds_training_curves_and_iteration_metrics_once(finished: dict) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from srlm.runtime.tracking import segment_start

    events = EventAccumulator(str(finished["root"] / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    root = finished["root"]
    sft_steps = segment_start(root, 1) - 1
    assert [step for step, _ in scalars["M1/train/loss"]] == list(range(1, sft_steps + 1))
    first_loss = json.loads((root / "M1" / "trainer_state.json").read_text())["log_history"][0]["loss"]
    assert scalars["M1/train/loss"][0][1] == pytest.approx(first_loss)
    assert [step for step, _ in scalars["M2/train/loss"]] == [segment_start(root, 1) + 1]
    m1, m2 = (json.loads((root / f"M{t}" / "eval.json").read_text()) for t in (1, 2))
    judge = scalars["eval/judge/pairwise_accuracy"]
    assert judge == [(segment_start(root, 1), pytest.approx(m1["judge"]["pairwise_accuracy"])), (segment_start(root, 2), pytest.approx(m2["judge"]["pairwise_accuracy"]))]
    stats = json.loads((root / "iter1" / "stats.json").read_text())
    assert scalars["data/judgments/parse_rate"] == [(segment_start(root, 1), pytest.approx(stats["judgments"]["parse_rate"]))]
    assert scalars["data/pairs/kept"][0][1] == stats["pairs"]["kept"]
    # The second (finished) start logged the last eval again: replaced, not doubled. (The
    # trainer itself logs "epoch" twice at its last step: with the loss and with the summary.)
    loop = {tag: points for tag, points in scalars.items() if tag.split("/")[0] in ("eval", "data", "loop")}
    assert len(loop) > 40 and all(len({step for step, _ in points}) == len(points) for points in loop.values())
