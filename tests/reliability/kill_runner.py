"""Fork server for the fault-injection tests: import once, fork one real process per attempt.

Importing torch, transformers and TRL takes about 5 s; a fresh interpreter per attempt would
leave room for a handful of kills in the time budget instead of dozens. This process imports
everything once and never computes anything (so forking it is safe), then forks one child per
pipeline attempt. Each child is an ordinary process with its own pid: it takes ``run.lock``,
writes the run directory, and is ended with SIGKILL exactly like a crashed run.

Protocol, one JSON object per line.
  stdin, a command:  {"runs_dir", "extra": [overrides], "kill_after": seconds | null,
                      "inject": "point:n" | null, "env": {name: value}, "force": bool}
  stdin, while an attempt runs: {"kill": true} ends it at once.
  stdout, the answer: {"outcome": "killed" | "exited", "code", "pid", "seconds",
                       "timeline": [[seconds, stage], ...], "calls": {point: count}}

Injection points (the child SIGKILLs itself at the n-th occurrence):
  replace        before an atomic rename (``X.tmp`` written, ``X`` not yet replaced)
  torn-append    half-way through writing a chunk of rows to a ``.partial`` file
  model-saved    after a checkpoint's weights are saved into the staging folder
  model-renamed  after a checkpoint is moved into place, before its COMPLETE marker
  replaced:PATH  right after the atomic rename onto the file whose path ends with PATH
  hold           after taking the run lock: the child waits there until it is killed

Polite stops: "SIGTERM:point:n@stage" (or SIGINT) sends that signal instead of SIGKILL at the
n-th occurrence of ``point`` counted within ``stage`` (a name of ``frontier``), so a resumed
run that skips finished stages still stops where it is meant to. The child then runs under
``srlm.runtime.signals.stoppable`` as ``srlm run`` does. "ENOSPC:point:n@stage" instead makes that occurrence fail with ``OSError(ENOSPC)`` (a full
disk; ``model-saved`` fails after the weights are written, as a save that ran out of space
half-way through the folder). Points that only signals and ENOSPC use:
  fsync          inside a write (every whole-file write and every append fsyncs)
  generate       a generation call (no write under way)
  train-step     one optimizer step of SFT or DPO (training under way)
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

POINTS = ("replace", "torn-append", "model-saved", "model-renamed")  # the SIGKILL test's points
SIGNAL_POINTS = ("fsync", "generate", "train-step", "replace", "model-saved")
RESUME = "srlm run t.yaml"  # what a stopped child prints as the command that continues it


# ---------------------------------------------------------------------------------------------
# Where a run stands (also imported by the tests, so no heavy imports at module level)


def frontier(root: Path, iterations: int = 1) -> str:
    """The first step of a run not yet durably done: where a kill at this moment happened."""
    if not (root / "config.yaml").exists():
        return "startup"
    steps = [("seed data", root / "data" / "stats.json"), ("sft", root / "M1" / "COMPLETE"), ("eval M1", root / "M1" / "eval.json")]
    for t in range(1, iterations + 1):
        folder = root / f"iter{t}"
        steps += [
            ("prompts", folder / "prompts.jsonl"),
            ("candidates", folder / "candidates.jsonl"),
            ("judgments", folder / "judgments.jsonl"),
            ("pairs", folder / "pairs.jsonl"),
            ("dpo", root / f"M{t + 1}" / "COMPLETE"),
            (f"eval M{t + 1}", root / f"M{t + 1}" / "eval.json"),
        ]
    for name, path in steps:
        if not path.exists():
            return name
    return "finished"


# ---------------------------------------------------------------------------------------------
# Fault injection inside a child


_SIGNAL = [signal.SIGKILL]  # what _die sends: SIGKILL, or the polite signal of a stop test; 0: ENOSPC


def _die() -> None:
    if not _SIGNAL[0]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.kill(os.getpid(), _SIGNAL[0])


class Calls:
    """Occurrences of each injection point, and the stage each one happened in.

    ``target`` is (point, n) for the n-th occurrence in the run, or (point, n, stage) for the
    n-th within ``stage``.
    """

    def __init__(self, root: Path, target: tuple | None) -> None:
        self.root = root
        self.target = target
        self.counts: dict[str, int] = {}
        self.in_stage: dict[tuple[str, str], int] = {}
        self.stages: dict[str, dict[str, list[int]]] = {}  # point -> stage -> [first, last]

    def hit(self, point: str) -> bool:
        """Count one occurrence; True when it is the one to die at."""
        n = self.counts[point] = self.counts.get(point, 0) + 1
        stage = frontier(self.root)
        span = self.stages.setdefault(point, {}).setdefault(stage, [n, n])
        span[1] = n
        k = self.in_stage[point, stage] = self.in_stage.get((point, stage), 0) + 1
        return self.target in ((point, n), (point, k, stage))


def _count_calls(owner: Any, name: str, point: str, calls: Calls, after: bool = False) -> None:
    """Wrap ``owner.name`` to count calls as ``point`` and die at the chosen one."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fire = calls.hit(point)
        if fire and not after:
            _die()
        result = original(*args, **kwargs)
        if fire:
            _die()
        return result

    setattr(owner, name, wrapper)


def _torn_append(calls: Calls) -> None:
    """At the chosen append, write half of the chunk's bytes (a cut-off line), then die."""
    from srlm.runtime import rundir

    original = rundir.RowLog.append

    def append(self: Any, rows: list[dict]) -> None:
        fresh = [row for row in rows if row[self.key] not in self.ids]
        if fresh and calls.hit("torn-append"):
            data = "".join(rundir.row_line(row) for row in fresh).encode("utf-8")
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with open(self.partial, "ab") as handle:
                handle.write(data[: max(1, len(data) // 2)])
                handle.flush()
                os.fsync(handle.fileno())
            _die()
        original(self, rows)

    rundir.RowLog.append = append


def _die_after_replace(suffix: str) -> None:
    original = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        original(src, dst, *args, **kwargs)
        if str(dst).endswith(suffix):
            _die()

    os.replace = replace


def _hold_after_lock() -> None:
    from srlm.runtime import rundir

    original = rundir.RunLock.__enter__

    def enter(self: Any) -> Any:
        result = original(self)
        (self.path.parent / "held").write_text(str(os.getpid()))
        time.sleep(3600)
        return result

    rundir.RunLock.__enter__ = enter


def install(inject: str | None, root: Path) -> Calls:
    """Count every injection point (and arm the chosen one); returns the live counts."""
    import transformers

    from srlm.stages import sft as sft_stage
    from srlm.stages import train as train_stage

    target: tuple | None = None
    if inject == "hold":
        _hold_after_lock()
    elif inject and inject.startswith("replaced:"):
        _die_after_replace(inject.split(":", 1)[1])
    elif inject and inject.startswith(("SIG", "ENOSPC")):
        name, point, rest = inject.split(":")
        n, stage = rest.split("@")
        _SIGNAL[0] = 0 if name == "ENOSPC" else getattr(signal, name)
        target = (point, int(n), stage)
    elif inject:
        point, n = inject.split(":")
        target = (point, int(n))
    calls = Calls(root, target)
    _count_calls(os, "replace", "replace", calls)
    _count_calls(os, "fsync", "fsync", calls)
    _count_calls(transformers.Trainer, "training_step", "train-step", calls)
    from tests.helpers import scripted

    _count_calls(scripted.ScriptedJudgeBackend, "generate", "generate", calls)
    _torn_append(calls)
    _count_calls(transformers.PreTrainedModel, "save_pretrained", "model-saved", calls, after=True)
    # The stages mark a checkpoint complete after writing its counts: dying just before that
    # leaves a renamed but unmarked model, which a rerun must retrain.
    _count_calls(sft_stage, "mark_model_done", "model-renamed", calls)
    _count_calls(train_stage, "mark_model_done", "model-renamed", calls)
    return calls


# ---------------------------------------------------------------------------------------------
# The child: one pipeline attempt


def child(command: dict, model_dir: Path, attempt: int) -> None:
    """Run the pipeline once (in a forked process) and exit with 0, 2 (user error) or 1."""
    import logging
    import traceback

    from srlm import pipeline
    from srlm.config import load_config
    from srlm.errors import Stopped, UserError
    from srlm.runtime.signals import stoppable
    from tests.helpers.scripted import scripted_factory, tiny_overrides

    runs_dir = Path(command["runs_dir"])
    runs_dir.mkdir(parents=True, exist_ok=True)
    out = os.open(runs_dir / f"attempt-{attempt:03d}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.update(command.get("env") or {})
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True, format="%(name)s: %(message)s")
    calls = install(command.get("inject"), runs_dir / "t")
    code = 1
    try:
        config = load_config(None, tiny_overrides(model_dir, runs_dir, *command.get("extra", [])))
        with stoppable(RESUME):  # as `srlm run` does: SIGINT/SIGTERM stop politely
            pipeline.run(config, force=command.get("force", False), backend_factory=scripted_factory)
        code = 0
    except UserError as exc:
        print(f"srlm: error: {exc}", file=sys.stderr)
        code = getattr(exc, "exit_code", 2)
    except Stopped as exc:
        print(f"srlm: {exc}", file=sys.stderr)
        code = exc.exit_code
    except BaseException:  # noqa: BLE001 - report anything, the parent compares outcomes
        traceback.print_exc()
    finally:
        (runs_dir / "calls.json").write_text(json.dumps({"counts": calls.counts, "stages": calls.stages}))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# ---------------------------------------------------------------------------------------------
# The server


class Lines:
    """Line reader on a raw file descriptor, so that ``select`` sees every unread byte."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def ready(self, timeout: float) -> bool:
        return b"\n" in self.buffer or bool(select.select([self.fd], [], [], timeout)[0])

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return b""
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line


def supervise(pid: int, command: dict, lines: Lines) -> dict:
    """Wait for the child, killing it at ``kill_after`` or on a kill request; record stages."""
    root = Path(command["runs_dir"]) / "t"
    iterations = command.get("iterations", 1)
    started = time.monotonic()
    timeline: list[list] = []
    kill_after = command.get("kill_after")
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        elapsed = time.monotonic() - started
        if done:
            break
        stage = frontier(root, iterations)
        if not timeline or timeline[-1][1] != stage:
            timeline.append([round(elapsed, 3), stage])
        asked = lines.ready(0.02) and json.loads(lines.readline() or b"{}").get("kill")
        if asked or (kill_after is not None and elapsed >= kill_after):
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)  # reap at once: a zombie's pid would still look alive
            break
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    calls_file = Path(command["runs_dir"]) / "calls.json"
    calls = json.loads(calls_file.read_text()) if calls_file.exists() and not killed else {"counts": {}, "stages": {}}
    calls_file.unlink(missing_ok=True)
    return {
        "outcome": "killed" if killed else "exited",
        "code": None if killed else os.WEXITSTATUS(status),
        "pid": pid,
        "seconds": round(time.monotonic() - started, 3),
        "timeline": timeline,
        "frontier": frontier(root, iterations),
        "calls": calls,
    }


def serve(model_dir: Path) -> None:
    """Answer commands until stdin closes."""
    # Import everything an attempt needs now, in the parent, so that children start at once.
    import trl  # noqa: F401
    from trl import DPOTrainer, SFTTrainer  # noqa: F401

    import srlm.pipeline  # noqa: F401
    import srlm.stages.evaluate  # noqa: F401
    import srlm.training.dpo  # noqa: F401
    import srlm.training.sft  # noqa: F401
    import tests.helpers.scripted  # noqa: F401

    lines = Lines(sys.stdin.fileno())
    print(json.dumps({"ready": True}), flush=True)
    attempt = 0
    while True:
        raw = lines.readline()
        if not raw:
            return
        command = json.loads(raw)
        attempt += 1
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(command, model_dir, attempt)
        print(json.dumps(supervise(pid, command, lines)), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    serve(Path(sys.argv[1]))
