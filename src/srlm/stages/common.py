"""What every stage gets: the iteration's config, the run directory, the model M(t) on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from srlm.backends.base import Backend
from srlm.config import Config
from srlm.errors import UserError
from srlm.generation import stable_seed
from srlm.runtime import distributed
from srlm.runtime.resources import free_memory
from srlm.runtime.rundir import RunDir, read_json, write_json

log = logging.getLogger("srlm")


class PipelineStop(UserError):
    """The run cannot go on for a reason the user must see (e.g. zero usable pairs)."""


@dataclass
class StageContext:
    """The inputs of one iteration's stages.

    ``backend_factory(model_dir)`` builds a generation backend; the model is loaded on first
    use and released by ``release()`` before training needs the memory.
    """

    config: Config
    run: RunDir
    iteration: int
    backend_factory: Callable[[Path, Config], Backend]
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
        if not distributed.is_main():
            return
        update_stats(self.path("stats.json"), section, values)
        log.info("iter%d %s: %s", self.iteration, section, _summary(values))


def update_stats(path: Path, section: str, values: dict) -> None:
    stats = read_json(path) if path.exists() else {}
    stats[section] = values
    write_json(path, stats)


def _summary(values: dict) -> str:
    flat = [f"{k}={v}" for k, v in values.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(flat[:8])
