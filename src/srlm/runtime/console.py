"""The run's console and its log: srlm's few lines on the console, everything in ``run.log``.

``srlm run`` without ``-v`` shows a start banner, one line per stage and a summary on stdout
(the ``srlm.console`` logger; stderr holds only an error); every log record of srlm and the libraries, every warning, the
trainer's logged steps and the progress bars (as lines) go to ``runs/<name>/run.log``, which a
run always writes and a resumed run appends to. With ``-v`` the console shows all of it too.

The libraries are asked through their own switches: transformers' and datasets' loggers
propagate to the root logger instead of printing (``transformers.utils.logging``,
``datasets.utils.logging``), warnings become log records (``logging.captureWarnings``) and
transformers' bars ("Loading weights") write into the log through its tqdm hook.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlm.runtime import distributed

CONSOLE = logging.getLogger("srlm.console")
CONSOLE.setLevel(logging.INFO)  # shown wherever a handler takes them, whatever the root's level


def _main_process_only(record: logging.LogRecord) -> bool:
    return distributed.is_main()  # one banner, one line per stage, whatever the process count


CONSOLE.addFilter(_main_process_only)
BAR_INTERVAL_S = 30.0  # a bar in the log: one line per this many seconds at most
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_quiet = False


def is_quiet() -> bool:
    """Whether the console shows srlm's lines only (``srlm run`` without ``-v``)."""
    return _quiet


def _nothing(record: logging.LogRecord) -> bool:
    return False


@contextmanager
def quiet() -> Iterator[None]:
    """Inside: srlm's console lines go to stdout as plain text, and the root logger's console
    handlers (stderr) show nothing: stderr is left to a failing run's one error line.

    Library bars either write into the log (transformers, srlm's own) or are off (datasets and
    TRL: their bars have no hook; they show a map over the rows, a reference log-prob pass).
    Everything is as before on the way out (``srlm run`` may be called in a longer process).
    """
    global _quiet
    import datasets
    import transformers.utils.logging as hf_logging

    consoles = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    saved = (datasets.is_progress_bar_enabled(), os.environ.get("TQDM_DISABLE"))
    for handler in consoles:
        handler.addFilter(_nothing)
    lines = logging.StreamHandler(sys.stdout)
    lines.setFormatter(logging.Formatter("%(message)s"))
    CONSOLE.addHandler(lines)
    hook = hf_logging.set_tqdm_hook(lambda factory, args, kwargs: factory(*args, **{**kwargs, **bar_options()}))
    datasets.disable_progress_bars()
    # tqdm's own switch for the bars made without a hook (TRL reads it for its reference
    # log-prob pass); bars given an explicit ``disable`` (srlm's) are not affected.
    os.environ["TQDM_DISABLE"] = "1"
    _quiet = True
    try:
        yield
    finally:
        _quiet = False
        CONSOLE.removeHandler(lines)
        for handler in consoles:
            handler.removeFilter(_nothing)
        hf_logging.set_tqdm_hook(hook)
        if saved[0]:
            datasets.enable_progress_bars()
        if saved[1] is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved[1]


_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # tqdm's cursor moves between nested bars


class BarStream:
    """A file for tqdm that writes each drawn bar as one line of the ``srlm.progress`` log."""

    def __init__(self) -> None:
        self.log, self.last = logging.getLogger("srlm.progress"), ""

    def write(self, text: str) -> None:
        line = _ESCAPES.sub("", text).strip("\r\n ")
        if line and line != self.last:  # tqdm draws the last state again when it closes
            self.log.info(line)
            self.last = line

    def flush(self) -> None:
        pass


def bar_options() -> dict:
    """tqdm keywords: on the terminal as usual; quiet, bars become a line every 30 s in the log."""
    if not _quiet:
        return {}
    return {"file": BarStream(), "mininterval": BAR_INTERVAL_S, "leave": True, "ascii": True, "dynamic_ncols": False, "ncols": 100}


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def run_log(path: Path, banner: str = "") -> Iterator[_Counter]:
    """Inside: every record and warning is appended to ``path``; yields a count of warnings.

    A separator line with the time and the command opens each start, so a resumed run's log
    reads as one file of attempts; ``banner`` (shown before the log could open) follows it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    counter = _Counter()
    handler.stream.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start (pid {os.getpid()}): {' '.join(sys.argv)} =====\n")
    handler.stream.write(banner + "\n" if banner else "")
    root, srlm = logging.getLogger(), logging.getLogger("srlm")
    saved_level, saved_libraries = srlm.level, _libraries_to_root()
    if srlm.getEffectiveLevel() > logging.INFO:
        srlm.setLevel(logging.INFO)  # a library caller's root may be at WARNING: the log wants INFO
    root.addHandler(handler)
    root.addHandler(counter)
    logging.captureWarnings(True)
    try:
        yield counter
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.removeHandler(counter)
        handler.close()
        srlm.setLevel(saved_level)
        _restore_libraries(saved_libraries)


def _libraries_to_root() -> list[tuple[logging.Logger, list[logging.Handler], bool]]:
    """transformers' and datasets' records go to the root logger's handlers (the log, the
    console) instead of their own stderr handlers; returns what to restore."""
    import transformers.utils.logging as hf_logging

    saved = []
    for name in ("transformers", "datasets"):
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    datasets_logger = logging.getLogger("datasets")
    for handler in list(datasets_logger.handlers):
        datasets_logger.removeHandler(handler)
    datasets_logger.propagate = True
    return saved


def _restore_libraries(saved: list[tuple[logging.Logger, list[logging.Handler], bool]]) -> None:
    for logger, handlers, propagate in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.propagate = propagate


# ---------------------------------------------------------------------------------------------
# Stage lines with an estimate of the time left


@dataclass(frozen=True)
class Step:
    """One planned stage: ``group`` ("M1", "iter 2/3", "final"), its place k of n there."""

    key: tuple[int, str]
    group: str
    k: int
    n: int


@dataclass
class Clock:
    """The run's planned stages; the time left is the sum, over the stages still to come, of the
    mean time that stage took so far in this process ("unknown" while one has no measure yet).

    ``names``: an iteration's stages; ``evaluate``: each model is evaluated (an "eval" stage
    opens every iteration and one ends the run).
    """

    iterations: int
    names: list[str]
    evaluate: bool = True
    measured: dict[str, list[float]] = field(default_factory=dict)

    @property
    def steps(self) -> list[Step]:
        return plan(self.iterations, self.names, self.evaluate)

    def left(self, after: Step) -> float | None:
        steps = self.steps
        rest = steps[steps.index(after) + 1 :]
        if any(step.key[1] not in self.measured for step in rest):
            return None
        return sum(sum(self.measured[s.key[1]]) / len(self.measured[s.key[1]]) for s in rest)

    @contextmanager
    def stage(self, t: int, name: str) -> Iterator[dict]:
        """Time a stage; the caller sets ``info["rows"]`` and ``info["ran"]`` (False: done earlier)."""
        step = next(s for s in self.steps if s.key == (t, name))
        started, info = time.monotonic(), {"ran": True}
        yield info
        if not info["ran"]:
            return
        seconds = time.monotonic() - started
        self.measured.setdefault(name, []).append(seconds)
        rows = f"{info['rows']} rows, " if info.get("rows") is not None else ""
        CONSOLE.info("[%s · stage %d/%d] %s: %s%s · time left %s", step.group, step.k, step.n, name.replace("_", " "), rows, duration(seconds), _left(self.left(step)))


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return "none" if seconds < 1 else "about " + duration(seconds)


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``, ``"2 h 07 min"``.

    >>> duration(41.6), duration(185), duration(7620)
    ('42 s', '3 min 5 s', '2 h 07 min')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def plan(iterations: int, stage_names: list[str], evaluate: bool = True) -> list[Step]:
    """Seed data and SFT (group M1), each iteration's eval and stages, the final eval.

    >>> [(s.group, s.k, s.n, s.key[1]) for s in plan(1, ["prompts", "train"])][1:]
    [('M1', 2, 2, 'sft'), ('iter 1/1', 1, 3, 'eval'), ('iter 1/1', 2, 3, 'prompts'), ('iter 1/1', 3, 3, 'train'), ('final', 1, 1, 'eval')]
    """
    steps = [Step((0, "seed_data"), "M1", 1, 2), Step((0, "sft"), "M1", 2, 2)]
    names = ["eval", *stage_names] if evaluate else list(stage_names)
    for t in range(1, iterations + 1):
        steps += [Step((t, name), f"iter {t}/{iterations}", k, len(names)) for k, name in enumerate(names, 1)]
    if evaluate:
        steps.append(Step((iterations + 1, "eval"), "final", 1, 1))
    return steps


def banner(run_root: Path, config: Any, continuing: bool) -> str:
    """The first line: where the run is, which model, how many iterations (shown, and returned
    for the log, which opens later: under the run's lock)."""
    what = "continuing" if continuing else "starting"
    line = f"srlm: {what} {run_root} · {config.method} from {config.model} · {plural(config.iterations, 'iteration')} · log {run_root / 'run.log'}"
    CONSOLE.info(line)
    return line


def plural(n: int, word: str) -> str:
    """``n word`` with an s unless n is 1.

    >>> plural(1, "warning"), plural(3, "warning")
    ('1 warning', '3 warnings')
    """
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
