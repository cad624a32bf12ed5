"""The reliability tests' client of kill_runner.py, and the overrides of their tiny runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: ``tests`` imports from here

# Overrides on top of tests/helpers/scripted.py's tiny_overrides: one iteration of every stage in about
# 3 s on one CPU thread; batch size 2 cuts the generation stages into several chunks.
FAST = ("iterations=1", "threads=1", "backend.batch_size=2", "prompt_gen.num_prompts=6")


class Runner:
    """Client of ``kill_runner.py``: one forked pipeline attempt per call."""

    def __init__(self, model_dir: Path, log: Path) -> None:
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}  # this checkout's srlm, not another install's
        self.log = open(log, "w")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.kill_runner", str(model_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
        )
        ready = self._read()
        assert ready == {"ready": True}, ready

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"kill_runner.py ended; see {self.log.name}")
        return json.loads(line)

    def _send(self, message: dict) -> None:
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def start(self, runs_dir: Path, extra: tuple[str, ...] = FAST, kill_after: float | None = None, inject: str | None = None, env: dict | None = None, force: bool = False) -> None:
        """Begin one attempt; ``wait()`` returns its answer."""
        self._send({"runs_dir": str(runs_dir), "extra": list(extra), "kill_after": kill_after, "inject": inject, "env": env or {}, "force": force})

    def kill(self) -> None:
        """SIGKILL the running attempt now."""
        self._send({"kill": True})

    def wait(self) -> dict:
        return self._read()

    def attempt(self, runs_dir: Path, **kwargs: object) -> dict:
        """Run one attempt to its end (or its kill) and return the answer."""
        self.start(runs_dir, **kwargs)  # type: ignore[arg-type]
        return self.wait()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.log.close()


def attempt_log(runs_dir: Path) -> str:
    """The end of the newest attempt's log, for assertion messages."""
    logs = sorted(runs_dir.glob("attempt-*.log"))
    return logs[-1].read_text(errors="replace")[-3000:] if logs else "(no log)"


# Written after a checkpoint's COMPLETE marker or after a stage's file, so a kill in between
# leaves them missing: checked on their own in test_kill.py.
WRITTEN_AFTER_THE_FACT = ("stats.json", "train.json", "config.yaml")


def after_the_fact(rel: str) -> bool:
    """iter*/stats.json, M*/train.json, M*/config.yaml and their temporary files."""
    folder, _, name = rel.partition("/")
    return folder.startswith(("iter", "M")) and name.removesuffix(".tmp") in WRITTEN_AFTER_THE_FACT


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file of a run directory except the after-the-fact metadata files."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if after_the_fact(rel):
            continue
        if rel == "run.log":  # the attempts' own log: their times, pids and commands
            continue
        data = path.read_bytes()
        if rel == "config.yaml":  # the one line that differs between run directories
            data = b"".join(line for line in data.splitlines(True) if not line.startswith(b"runs_dir:"))
        if path.name == "trainer_state.json":  # the trainer's summary holds its wall-clock times
            data = json.dumps(without_clock(json.loads(data))).encode()
        found[rel] = hashlib.sha256(data).hexdigest()
    return found


CLOCK_KEYS = ("seconds", "train_runtime", "train_samples_per_second", "train_steps_per_second")


def without_clock(data: object) -> object:
    """``data`` without wall-clock fields, in lists too (a trainer state's ``log_history``)."""
    if isinstance(data, dict):
        return {k: without_clock(v) for k, v in data.items() if k not in CLOCK_KEYS}
    if isinstance(data, list):
        return [without_clock(v) for v in data]
    return data


def without_seconds(data: object) -> object:
    """``data`` without its wall-clock fields (the only ones that differ between two runs)."""
    if isinstance(data, dict):
        return {k: without_seconds(v) for k, v in data.items() if k != "seconds"}
    return data
