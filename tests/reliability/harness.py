"""The reliability tests' client of kill_runner.py, and the overrides of their tiny runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Overrides on top of tests/scripted.py's tiny_overrides: one iteration of every stage in about
# 3 s on one CPU thread; batch size 2 cuts the generation stages into several chunks.
FAST = ("iterations=1", "threads=1", "backend.batch_size=2", "prompt_gen.num_prompts=6")


class Runner:
    """Client of ``kill_runner.py``: one forked pipeline attempt per call."""

    def __init__(self, model_dir: Path, log: Path) -> None:
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        self.log = open(log, "w")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "kill_runner.py"), str(model_dir)],
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

    def start(self, runs_dir: Path, extra: tuple[str, ...] = FAST, kill_after: float | None = None, inject: str | None = None, env: dict | None = None) -> None:
        """Begin one attempt; ``wait()`` returns its answer."""
        self._send({"runs_dir": str(runs_dir), "extra": list(extra), "kill_after": kill_after, "inject": inject, "env": env or {}})

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
