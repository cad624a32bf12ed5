"""What every stage gets: the iteration's config, the run directory, the model M(t) on demand."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from srlm import distributed
from srlm.config import Config
from srlm.errors import UserError
from srlm.modeling import free_memory
from srlm.rundir import RunDir, read_json, write_json

log = logging.getLogger("srlm")


class PipelineStop(UserError):
    """The run cannot go on for a reason the user must see (e.g. zero usable pairs)."""


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, the same on every machine and Python run."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def chunked(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    """(chunk index, items) in order: chunk boundaries depend only on ``size``."""
    for index, start in enumerate(range(0, len(items), size)):
        yield index, items[start : start + size]


def progress(total: int, desc: str, unit: str) -> tqdm:
    """A progress bar with rows/s for a long stage (shown by the main process only)."""
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, disable=not distributed.is_main())


@dataclass
class StageContext:
    """The inputs of one iteration's stages.

    ``backend_factory(model_dir)`` builds a generation backend; the model is loaded on first
    use and released by ``release()`` before training needs the memory.
    """

    config: Config
    run: RunDir
    iteration: int
    backend_factory: Callable[[Path, Config], Any]
    _backend: Any = field(default=None, repr=False)

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
    def backend(self) -> Any:
        if self._backend is None:
            self._backend = self.backend_factory(self.model_path, self.config)
        return self._backend

    def release(self) -> None:
        """Free the generation model (training loads its own copy); vLLM frees its GPU memory."""
        close = getattr(self._backend, "close", None)
        if close is not None:
            close()
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
