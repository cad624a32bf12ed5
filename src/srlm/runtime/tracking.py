"""Experiment tracking: TRL's training curves and the loop's own numbers in one tracker run.

``report_to`` names the trackers, as transformers' ``TrainingArguments.report_to`` does:
``tensorboard``, ``wandb``, ``trackio``, ``mlflow``. One srlm run is one tracker run, named
after the run; its identity (wandb id, mlflow run id) is kept in ``runs/<name>/tracking.json``
so that a resumed run continues the same tracker run instead of starting a second one.

transformers' own callbacks are not used: each opens a tracker run per trainer (TensorBoard a
new ``runs/<date>_<host>`` folder, trackio and mlflow a run they end at the end of training),
which would split one srlm run into one run per model on three overlapping step axes.

One step axis serves the whole run, so that every tracker draws it in order:

- the training of M<t+1> logs at ``segment_start(t) + trainer step`` (M1's SFT: segment 0);
- the numbers of iteration t (M<t>'s ``eval.json``, ``iter<t>/stats.json``) log at
  ``segment_start(t)``, one step before M<t+1>'s first training step; the last model's eval
  logs at ``segment_start(T+1)``.

``segment_start(t)`` = t + the training steps of M1..M<t> (from their ``train.json``), known
before a segment starts. A resumed run repeats a segment from its start (training restarts
from M<t>): TensorBoard's ``purge_step`` hides the killed attempt's events from that step on;
for the other trackers a step already sent (recorded per tracker in ``tracking.json``) is
not sent again, so a repeated segment adds only the steps the killed attempt never reached. Each start
also replays the finished segments from the run's files (``replay``) under the same rule.
"""

from __future__ import annotations

import importlib.util
import math
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

from srlm.config import report_targets
from srlm.errors import UserError
from srlm.runtime.rundir import read_json, write_json

# The package each tracker needs (TensorBoard: torch.utils.tensorboard writes with it).
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow"}


def check_installed(report_to: Any) -> list[str]:
    """Raise ``UserError`` for a tracker whose package is missing; else one line per tracker."""
    lines = []
    for name in report_targets(report_to):
        package = PACKAGES[name]
        if importlib.util.find_spec(package) is None:
            how = "pip install 'srlm[tracking]'" if name == "tensorboard" else f"pip install {package}"
            raise UserError(f"config key 'report_to': {name} needs the '{package}' package, which is not installed ({how})")
        lines.append(f"report_to {name}: {package} installed")
    return lines


class Sink(Protocol):
    """One tracker. ``replaces``: opening at a step hides what was logged from it on."""

    name: str
    replaces: bool

    def begin(self, step: int) -> None: ...

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class TensorBoardSink:
    """Event files in ``runs/<name>/tensorboard`` (``tensorboard --logdir runs``).

    One events file per start: opened at the first step this start logs, with ``purge_step``
    there, so TensorBoard hides what earlier starts wrote from that step on (a start replays
    the finished segments first, so its file holds the whole history). TensorBoard reads a
    folder's files in name order, which is their creation time to the second.
    """

    name = "tensorboard"
    replaces = True

    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.writer, self.last = log_dir, None, -1

    def begin(self, step: int) -> None:
        if self.writer is None or step < self.last:  # a step axis going back: a new file
            from torch.utils.tensorboard import SummaryWriter

            self.close()
            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=step)
        self.last = max(self.last, step)

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.begin(step)
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer, self.last = None, -1


class WandbSink:
    """A Weights & Biases run (project: $WANDB_PROJECT, else "srlm"), resumed by its id."""

    name = "wandb"
    replaces = False

    def __init__(self, name: str, run_id: str, root: Path) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "srlm"), name=name, id=run_id, resume="allow", dir=str(root))

    def begin(self, step: int) -> None:
        pass

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class TrackioSink:
    """A trackio run (project: $TRACKIO_PROJECT, else "srlm"), resumed by its name."""

    name = "trackio"
    replaces = False

    def __init__(self, name: str) -> None:
        import trackio

        self.trackio = trackio
        trackio.init(project=os.environ.get("TRACKIO_PROJECT", "srlm"), name=name, resume="allow")

    def begin(self, step: int) -> None:
        pass

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.trackio.log(metrics, step=step)

    def close(self) -> None:
        self.trackio.finish()


class MlflowSink:
    """An MLflow run (experiment: $MLFLOW_EXPERIMENT_NAME, else "srlm"; store: $MLFLOW_TRACKING_URI)."""

    name = "mlflow"
    replaces = False

    def __init__(self, name: str, state: dict) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "srlm"))
        run = mlflow.start_run(run_id=state["mlflow_run_id"]) if state.get("mlflow_run_id") else mlflow.start_run(run_name=name)
        state["mlflow_run_id"] = run.info.run_id

    def begin(self, step: int) -> None:
        pass

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class Tracker:
    """The trackers of one run (none when ``report_to`` is none, or off the main process)."""

    def __init__(self, root: Path, sinks: list[Sink], state: dict) -> None:
        self.root, self.sinks, self.state = root, sinks, state
        self._calls: dict[int, int] = {}  # log calls per step in this process

    @property
    def active(self) -> bool:
        return bool(self.sinks)

    def begin(self, step: int) -> None:
        """A segment starts at ``step`` (again, on a resumed run)."""
        for sink in self.sinks:
            sink.begin(step)

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Send finite numbers at ``step``; a tracker that cannot replace gets each step once.

        ``tracking.json`` keeps, per tracker, the last step sent and how many records this step
        had, so a start that logs a segment again skips what the tracker already holds.
        """
        if not self.sinks:
            return
        metrics = {key: float(value) for key, value in metrics.items() if math.isfinite(value)}
        self._calls[step] = call = self._calls.get(step, 0) + 1
        for sink in self.sinks:
            mark = self.state.setdefault("sent", {}).setdefault(sink.name, {"last_step": -1, "records_at_last_step": 0})
            repeated = step < mark["last_step"] or (step == mark["last_step"] and call <= mark["records_at_last_step"])
            if sink.replaces or not repeated:
                sink.log(metrics, step)
            if not repeated:
                mark.update(last_step=step, records_at_last_step=call)
        write_json(self.root / "tracking.json", self.state)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks = []


def open_tracker(report_to: Any, root: Path, name: str, main: bool = True) -> Tracker:
    """The run's tracker run, continued if ``tracking.json`` says one was started."""
    names = report_targets(report_to) if main else []
    if not names:
        return Tracker(root, [], {})
    check_installed(report_to)
    path = root / "tracking.json"
    state = read_json(path) if path.exists() else {}
    state.setdefault("run_name", name)
    if "wandb" in names:
        state.setdefault("wandb_id", uuid.uuid4().hex[:16])  # kept: a resumed run reopens this run
    sinks: list[Sink] = []
    for target in names:
        if target == "tensorboard":
            sinks.append(TensorBoardSink(root / "tensorboard"))
        elif target == "wandb":
            sinks.append(WandbSink(name, state["wandb_id"], root))
        elif target == "trackio":
            sinks.append(TrackioSink(name))
        else:
            sinks.append(MlflowSink(name, state))
    write_json(path, state)
    return Tracker(root, sinks, state)


def segment_start(root: Path, t: int) -> int:
    """The step at which segment t starts: t + the training steps of M1..M<t>."""
    steps = 0
    for k in range(1, t + 1):
        path = root / f"M{k}" / "train.json"
        steps += int(read_json(path).get("steps", 0)) if path.exists() else 0
    return t + steps


def iteration_metrics(root: Path, t: int) -> dict[str, float]:
    """M<t>'s eval.json under ``eval/`` and iteration t's stats under ``data/`` (not training's)."""
    metrics: dict[str, float] = {"loop/iteration": float(t)}
    evaluation, stats = root / f"M{t}" / "eval.json", root / f"iter{t}" / "stats.json"
    if evaluation.exists():
        metrics.update(flatten(read_json(evaluation), "eval"))
    if stats.exists():
        data = {section: values for section, values in read_json(stats).items() if section != "train"}
        metrics.update(flatten(data, "data"))
    return metrics


def flatten(data: Any, prefix: str) -> dict[str, float]:
    """Every number in nested mappings as ``prefix/key/sub``; text, lists and flags are left out.

    >>> flatten({"judge": {"parse_rate": 0.9, "ok": True}, "histogram": {"5": 3}, "model": "M1"}, "eval")
    {'eval/judge/parse_rate': 0.9, 'eval/histogram/5': 3.0}
    """
    if isinstance(data, dict):
        flat: dict[str, float] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}/{key}"))
        return flat
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return {prefix: float(data)}
    return {}



def replay(tracker: Tracker, root: Path) -> int:
    """Send every finished segment again from the run's files; returns how many.

    A run that turns tracking on midway (or after it finished) gets its whole history, and a
    gap left by a kill between a file and its logging is filled; what a tracker already holds
    is replaced (TensorBoard) or not sent again (the others), never doubled. Segment t is
    finished when M<t+1> is complete: its numbers are iteration t's files and the trainer
    state M<t+1>'s training left (the same records its live logging sent).
    """
    from srlm.runtime.rundir import model_done

    t = 0
    while tracker.active and model_done(root / f"M{t + 1}" / "model"):
        start = segment_start(root, t)
        tracker.begin(start)
        if t >= 1:
            tracker.log(iteration_metrics(root, t), start)
        state = root / f"M{t + 1}" / "trainer_state.json"
        for entry in read_json(state)["log_history"] if state.exists() else []:
            numbers = flatten({key: value for key, value in entry.items() if key != "step"}, f"M{t + 1}/train")
            tracker.log(numbers, start + int(entry["step"]))
        t += 1
    return t
