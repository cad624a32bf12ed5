"""What every stage gets: the iteration's config, the run directory, the model M(t) on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlm.backends.base import Backend
from srlm.config import Config
from srlm.errors import UserError
from srlm.generation import stable_seed
from srlm.runtime import distributed
from srlm.runtime.resources import free_memory
from srlm.runtime.rundir import RunDir, read_json, write_json
from srlm.runtime.tracking import Tracker, iteration_metrics, segment_start

log = logging.getLogger("srlm")


class PipelineStop(UserError):
    """The run cannot go on for a reason the user must see (e.g. zero usable pairs)."""


@dataclass
class StageContext:
    """The inputs of one iteration's stages.

    ``backend_factory(model_dir)`` builds a generation backend; the model is loaded on first
    use and released by ``release()`` before training needs the memory. ``tracker``: the run's
    experiment tracker (``report_to``), or None.
    """

    config: Config
    run: RunDir
    iteration: int
    backend_factory: Callable[[Path, Config], Backend]
    tracker: Tracker | None = None
    records: int = 0  # sections recorded so far: a stage that recorded nothing found its file done
    _backend: Backend | None = field(default=None, repr=False)

    @property
    def model_path(self) -> Path:
        """The checkpoint of M(t) for this iteration."""
        return self.run.model(self.iteration)

    @property
    def folder(self) -> Path:
        return self.run.iteration(self.iteration)

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self.backend_factory(self.model_path, self.config)
        return self._backend

    def release(self) -> None:
        """Free the generation model (training loads its own copy); vLLM frees its GPU memory."""
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        free_memory()

    def seed(self, stage: str, *chunk: int) -> int:
        """The seed of one chunk of one stage: independent of what ran before (resumable)."""
        return stable_seed(self.config.seed, self.iteration, stage, *chunk)

    def record(self, section: str, values: dict) -> None:
        """Write this stage's counts into the iteration's ``stats.json`` (main process only)."""
        self.records += 1
        if not distributed.is_main():
            return
        update_stats(self.path("stats.json"), section, values)
        log.info("iter%d %s: %s", self.iteration, section, _summary(values))


def track_segment(tracker: Tracker | None, run: RunDir, t: int) -> list[Any]:
    """Start segment t on the tracker (``srlm.runtime.tracking``): iteration t's numbers at its
    first step (t >= 1); returns the callbacks that send M<t+1>'s training logs after them."""
    if tracker is None or not tracker.active:
        return []
    from srlm.training.common import TrackerCallback

    start = segment_start(run.root, t)
    tracker.begin(start)
    if t >= 1:
        tracker.log(iteration_metrics(run.root, t), start)
    return [TrackerCallback(tracker, start, f"M{t + 1}/train")]


def update_stats(path: Path, section: str, values: dict) -> None:
    stats = read_json(path) if path.exists() else {}
    stats[section] = values
    write_json(path, stats)


def _summary(values: dict) -> str:
    flat = [f"{k}={v}" for k, v in values.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(flat[:8])
