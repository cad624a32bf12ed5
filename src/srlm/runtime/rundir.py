"""The files of one run, and the two write disciplines that make a run resumable.

- Whole files (stats, pairs, configs) are written to ``X.tmp`` and renamed to ``X``: a file that
  exists is complete ("done = final file exists").
- Generation stages append rows to ``X.partial`` a chunk at a time (flushed and fsynced),
  skip ids already written when they restart, and rename it to ``X`` when every row is there.
  A line cut off by a kill is detected and dropped on the next start. In a multi-process run
  each process appends to its own ``X.rank<k>.partial`` and the main process merges them.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from srlm.errors import UserError
from srlm.runtime import distributed


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory (``runs/<name>``)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @property
    def data(self) -> Path:
        """Seed data as used by this run (copied in, so a run is self-contained)."""
        return self.root / "data"

    def model_dir(self, t: int) -> Path:
        """Folder of model M<t>: ``model/`` (checkpoint) and ``eval.json``."""
        return self.root / f"M{t}"

    def model(self, t: int) -> Path:
        return self.model_dir(t) / "model"

    def eval(self, t: int) -> Path:
        return self.model_dir(t) / "eval.json"

    def iteration(self, t: int) -> Path:
        """Folder of iteration t, which turns M<t> into M<t+1>."""
        return self.root / f"iter{t}"


def completion_marker(model_dir: Path) -> Path:
    """The completion marker of the checkpoint in ``model_dir``: beside it (``M<t>/COMPLETE``).

    Outside the model folder, so that the folder holds only what a Hub upload should ship.
    """
    return model_dir.parent / "COMPLETE"


def model_done(model_dir: Path) -> bool:
    """A checkpoint counts only once its completion marker exists (written last).

    Runs made before the marker moved out of the model folder keep it inside; they still count,
    so such a run resumes where it stopped.
    """
    if not model_dir.is_dir():
        return False
    return completion_marker(model_dir).is_file() or (model_dir / "COMPLETE").is_file()


def mark_model_done(model_dir: Path) -> None:
    write_text(completion_marker(model_dir), "ok\n")


# ---------------------------------------------------------------------------------------------
# Whole-file atomic writes


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def row_line(row: dict) -> str:
    """One JSONL line for ``row``, readable UTF-8 where possible.

    Model text can hold lone surrogates (an HTTP server's JSON may carry ``"\\ud800"``); they
    cannot be encoded as UTF-8, so such a row is written with ASCII escapes, which read back
    to the same string.
    """
    line = json.dumps(row, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row, ensure_ascii=True)
    return line + "\n"


def write_rows(path: Path, rows: Iterable[dict]) -> None:
    """Write a whole JSONL file atomically."""
    write_text(path, "".join(row_line(row) for row in rows))


def read_rows(path: Path) -> list[dict]:
    """Read a JSONL file this program wrote."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# ---------------------------------------------------------------------------------------------
# Append-and-resume files for generation stages


class RowLog:
    """Rows appended a chunk at a time to ``<final>.partial``; finished by renaming to ``<final>``.

    Opening it recovers from a kill: a last line without its newline (a write cut off) is
    removed, and the ids already written are known, so the stage skips them.

    With several processes each appends to ``<final>.rank<k>.partial``; opening reads every
    partial file (also those a run with another number of processes left), and ``finish``
    merges them on the main process.
    """

    def __init__(self, final: Path, key: str = "id") -> None:
        self.final = final
        self.key = key
        self.partial = _own_partial(final)
        self.rows: list[dict] = read_rows(final) if final.exists() else self._read_partials()
        self.ids = {row[key] for row in self.rows}

    @property
    def done(self) -> bool:
        return self.final.exists()

    def append(self, rows: list[dict]) -> None:
        """Append rows whose ids are new, durably (flush + fsync) before returning."""
        fresh = [row for row in rows if row[self.key] not in self.ids]
        if not fresh:
            return
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        with open(self.partial, "a", encoding="utf-8") as handle:
            handle.write("".join(row_line(row) for row in fresh))
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.extend(fresh)
        self.ids.update(row[self.key] for row in fresh)

    def sync(self) -> None:
        """Every process's rows so far, in every process (for a step that needs all of them)."""
        if distributed.world_size() == 1 or self.done:
            return
        distributed.barrier()  # every process has appended
        self.rows = self._read_partials()
        self.ids = {row[self.key] for row in self.rows}
        distributed.barrier()  # nobody appends again before everyone has read

    def finish(self, order: list[str] | None = None, before_final: Callable[[list[dict]], None] | None = None) -> list[dict]:
        """Write ``<final>`` with every row, sorted by ``order`` of ids if given; return the rows.

        ``before_final(rows)`` runs on the main process just before the final file appears: a
        stage writes its counts there, so a kill can never leave a done stage without them.
        With several processes every one must call it: they wait for each other, the main process
        merges the partial files and writes, and the others then read the final file.
        """
        if self.done:
            return self.rows
        several = distributed.world_size() > 1
        distributed.barrier()  # every process has appended its last chunk
        if distributed.is_main():
            if several:
                self.rows = self._read_partials()
            self._write_final(order, before_final)
        distributed.barrier()  # the final file is complete
        if several and not distributed.is_main():
            self.rows = read_rows(self.final)
        self.ids = {row[self.key] for row in self.rows}
        return self.rows

    def _write_final(self, order: list[str] | None, before_final: Callable[[list[dict]], None] | None) -> None:
        if order is not None:
            rank = {row_id: i for i, row_id in enumerate(order)}
            self.rows.sort(key=lambda row: rank.get(row[self.key], len(rank)))
        if before_final is not None:
            before_final(self.rows)
        write_rows(self.final, self.rows)
        for path in _partials(self.final):
            path.unlink()

    def _read_partials(self) -> list[dict]:
        """The rows of every partial file of this log, each id once."""
        rows: list[dict] = []
        seen: set = set()
        for path in _partials(self.final):
            # Only our own file may be cut back: another process may be appending to its own.
            for row in _recover(path, truncate=path == self.partial):
                if row[self.key] not in seen:
                    seen.add(row[self.key])
                    rows.append(row)
        return rows


def _own_partial(final: Path) -> Path:
    """This process's partial file: ``<final>.partial`` alone, ``<final>.rank<k>.partial`` in a group."""
    if distributed.world_size() == 1:
        return final.with_name(final.name + ".partial")
    return final.with_name(f"{final.name}.rank{distributed.rank()}.partial")


def _partials(final: Path) -> list[Path]:
    """Existing partial files of ``final``: the one-process file first, then by rank."""
    ranked = []
    for path in final.parent.glob(final.name + ".rank*.partial"):
        number = path.name[len(final.name) + len(".rank") : -len(".partial")]
        if number.isdigit():
            ranked.append((int(number), path))
    single = final.with_name(final.name + ".partial")
    return ([single] if single.exists() else []) + [path for _, path in sorted(ranked)]


def _recover(path: Path, truncate: bool = True) -> list[dict]:
    """Rows of a partial file, dropping a torn last line (and truncating it away if ``truncate``)."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if truncate and len(complete) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    rows = []
    for line in complete.decode("utf-8").split("\n"):  # not splitlines(): U+2028 is text
        if line.strip():
            rows.append(json.loads(line))
    return rows


# ---------------------------------------------------------------------------------------------
# One process per run directory


class RunLock:
    """An exclusive ``flock`` on ``run.lock``; the file holds ``host:pid`` for the message.

    The kernel drops a ``flock`` when its process ends, however it ends (SIGKILL included),
    so a lock file left behind by a dead process is simply locked again by the next run. The
    file is locked before it is written and removed while still locked, so two runs that start
    at the same moment cannot both win (a pid check on the file's text could not promise that).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 200).decode("utf-8", "replace").strip() or "starting"
                os.close(fd)
                raise UserError(f"{self.path}: another srlm process ({owner}) is running on this run directory") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder removed this file between our open and lock: use the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking: a waiter must not lock a removed file
            os.close(self.fd)
            self.fd = None


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def run_dir_for(runs_dir: str, name: str) -> RunDir:
    """The run directory, refusing names that would escape ``runs_dir``."""
    base = Path(runs_dir).resolve()
    root = (base / name).resolve()
    if root.parent != base:
        raise UserError(f"config key 'name': {name!r} must stay inside {runs_dir}")
    return RunDir(root)
