"""Experiment tracking without a model: the config key, missing packages, the step axis, and a
killed segment logged again on resume (TensorBoard replaces it; other trackers get each step once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.config import load_config, report_targets
from srlm.errors import UserError
from srlm.runtime import tracking
from srlm.runtime.tracking import Tracker, iteration_metrics, open_tracker, segment_start


def test_report_to_takes_tracker_names_like_transformers() -> None:
    assert report_targets(load_config(None, []).report_to) == []
    assert report_targets(load_config(None, ["report_to=[tensorboard, mlflow]"]).report_to) == ["tensorboard", "mlflow"]
    assert report_targets(load_config(None, ["report_to=tensorboard,wandb"]).report_to) == ["tensorboard", "wandb"]
    with pytest.raises(UserError, match=r"'report_to': 'tensorbord' is not one of .*did you mean 'tensorboard'"):
        load_config(None, ["report_to=tensorbord"])
    with pytest.raises(UserError, match="'report_to': 3 must be a tracker name"):
        load_config(None, ["report_to=3"])


def test_a_tracker_whose_package_is_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"report_to': wandb needs the 'wandb' package.*pip install wandb"):
        tracking.check_installed(["wandb"])
    assert tracking.check_installed("none") == []


def test_segments_follow_each_other_on_one_step_axis(tmp_path: Path) -> None:
    for t, steps in ((1, 3), (2, 2)):
        (tmp_path / f"M{t}").mkdir()
        (tmp_path / f"M{t}" / "train.json").write_text(json.dumps({"steps": steps}))
    # segment t: iteration t's numbers at its start, M<t+1>'s training steps after them
    assert [segment_start(tmp_path, t) for t in (0, 1, 2, 3)] == [0, 4, 7, 8]


def test_iteration_metrics_are_the_eval_and_data_numbers(tmp_path: Path) -> None:
    (tmp_path / "M2").mkdir()
    (tmp_path / "iter2").mkdir()
    (tmp_path / "M2" / "eval.json").write_text(json.dumps({"model": "M2", "judge": {"pairwise_accuracy": 0.75}, "win_rate_vs_M1": {"score": 0.6, "score_ci": [0.5, 0.7]}}))
    (tmp_path / "iter2" / "stats.json").write_text(json.dumps({"judgments": {"parse_rate": 0.9, "histogram": {"5": 4}}, "pairs": {"kept": 7}, "train": {"final_loss": 0.5}}))
    assert iteration_metrics(tmp_path, 2) == {
        "loop/iteration": 2.0, "eval/judge/pairwise_accuracy": 0.75, "eval/win_rate_vs_M1/score": 0.6,
        "data/judgments/parse_rate": 0.9, "data/judgments/histogram/5": 4.0, "data/pairs/kept": 7.0,
    }


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _as_an_earlier_start(log_dir: Path) -> None:
    """Date the events files back a minute, as a start before this one would have named them.

    TensorBoard reads a folder's files in name order (creation time to the second, then a
    counter of this process that sorts "10" before "9"); two starts are seconds apart.
    """
    for path in log_dir.glob("events.out.tfevents.*"):
        stamp = path.name.split(".")[3]
        path.rename(path.with_name(path.name.replace(f".{stamp}.", f".{int(stamp) - 60:010d}.", 1)))


def test_tensorboard_hides_a_killed_segment_once_it_runs_again(tmp_path: Path) -> None:
    first = open_tracker("tensorboard", tmp_path, "t")
    first.begin(0)
    for step in (1, 2, 3):
        first.log({"M1/train/loss": float(step)}, step)
    first.begin(4)
    first.log({"eval/judge/pairwise_accuracy": 0.5}, 4)
    first.log({"M2/train/loss": 10.0}, 5)
    first.sinks[0].writer.flush()  # killed here: every event so far is on disk, no close
    _as_an_earlier_start(tmp_path / "tensorboard")
    resumed = open_tracker("tensorboard", tmp_path, "t")
    resumed.begin(4)  # M2's training starts again from M1
    resumed.log({"eval/judge/pairwise_accuracy": 0.5}, 4)
    resumed.log({"M2/train/loss": 20.0}, 5)
    resumed.log({"M2/train/loss": 21.0}, 6)
    resumed.close()
    assert _scalars(tmp_path / "tensorboard") == {
        "M1/train/loss": [(1, 1.0), (2, 2.0), (3, 3.0)],
        "eval/judge/pairwise_accuracy": [(4, 0.5)],
        "M2/train/loss": [(5, 20.0), (6, 21.0)],
    }


class Recorder:
    """A tracker that keeps what it is sent and cannot take anything back (wandb, mlflow, trackio)."""

    name = "recorder"
    replaces = False

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict]] = []

    def begin(self, step: int) -> None:
        pass

    def log(self, metrics: dict, step: int) -> None:
        self.logged.append((step, metrics))

    def close(self) -> None:
        pass


def test_a_tracker_that_cannot_replace_gets_each_step_once(tmp_path: Path) -> None:
    killed = Recorder()
    first = Tracker(tmp_path, [killed], {})
    for step in (4, 5, 6):
        first.log({"loss": float(step)}, step)
    resumed_sink = Recorder()
    resumed = Tracker(tmp_path, [resumed_sink], json.loads((tmp_path / "tracking.json").read_text()))
    for step in (4, 5, 6, 7):
        resumed.log({"loss": float(step)}, step)
    resumed.log({"train_runtime": 1.0}, 7)  # a second record at the same step (the trainer's summary)
    assert [step for step, _ in killed.logged + resumed_sink.logged] == [4, 5, 6, 7, 7]
    # NaN and infinities are left out (a tracker would draw them as gaps or refuse them).
    resumed.log({"loss": float("nan"), "grad_norm": 1.0}, 8)
    assert resumed_sink.logged[-1] == (8, {"grad_norm": 1.0})


def test_no_tracker_means_no_file(tmp_path: Path) -> None:
    tracker = open_tracker("none", tmp_path, "t")
    tracker.log({"loss": 1.0}, 1)
    tracker.close()
    assert not tracker.active and list(tmp_path.iterdir()) == []


def _finished_run(root: Path) -> None:
    """M1 (SFT, 2 steps) and M2 (DPO, 1 step) complete, with the files a run leaves."""
    history = {1: [{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2}, {"train_runtime": 3.0, "step": 2}], 2: [{"loss": 0.7, "step": 1}]}
    for t, entries in history.items():
        (root / f"M{t}" / "model").mkdir(parents=True)
        (root / f"M{t}" / "model" / "COMPLETE").write_text("ok\n")
        (root / f"M{t}" / "train.json").write_text(json.dumps({"steps": entries[-1]["step"]}))
        (root / f"M{t}" / "trainer_state.json").write_text(json.dumps({"log_history": entries}))
        (root / f"M{t}" / "eval.json").write_text(json.dumps({"judge": {"pairwise_accuracy": 0.5 + t / 10}}))
    (root / "iter1").mkdir()
    (root / "iter1" / "stats.json").write_text(json.dumps({"pairs": {"kept": 3}}))


def test_replay_sends_the_finished_segments_once(tmp_path: Path) -> None:
    _finished_run(tmp_path)
    first = Recorder()
    assert tracking.replay(Tracker(tmp_path, [first], {}), tmp_path) == 2
    assert [(step, sorted(metrics)) for step, metrics in first.logged] == [
        (1, ["M1/train/loss"]), (2, ["M1/train/loss"]), (2, ["M1/train/train_runtime"]),
        (3, ["data/pairs/kept", "eval/judge/pairwise_accuracy", "loop/iteration"]), (4, ["M2/train/loss"]),
    ]
    again, added = Recorder(), Recorder()
    added.name = "added later"  # a tracker named in report_to on a continued run
    tracking.replay(Tracker(tmp_path, [again, added], json.loads((tmp_path / "tracking.json").read_text())), tmp_path)
    assert again.logged == [] and added.logged == first.logged


def test_replay_into_tensorboard_twice_shows_each_point_once(tmp_path: Path) -> None:
    _finished_run(tmp_path)
    for _ in range(2):
        tracker = open_tracker("tensorboard", tmp_path, "t")
        tracking.replay(tracker, tmp_path)
        tracker.close()
        _as_an_earlier_start(tmp_path / "tensorboard")
    scalars = _scalars(tmp_path / "tensorboard")
    assert scalars["M1/train/loss"] == [(1, 1.0), (2, 0.5)] and scalars["M2/train/loss"] == [(4, pytest.approx(0.7))]
    assert scalars["eval/judge/pairwise_accuracy"] == [(3, pytest.approx(0.6))]
