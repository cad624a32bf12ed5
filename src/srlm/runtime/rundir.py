"""The files of one run, and the two write disciplines that make a run resumable.

- Whole files (stats, pairs, configs) are written to ``X.tmp`` and renamed to ``X``: a file that
  exists is complete ("done = final file exists").
- Generation stages append rows to ``X.partial`` a chunk at a time (flushed and fsynced),
  skip ids already written when they restart, and rename it to ``X`` when every row is there.
  A line cut off by a kill is detected and dropped on the next start. In a multi-process run
  each process appends to its own ``X.rank<k>.partial`` and the main process merges them.

Every write goes through this module (``write_text``, ``RowLog.append``, ``writing`` around a
checkpoint save), so one place turns a failed write into one line naming the path: a full disk
is ``DiskFull`` (exit 75; nothing written before is touched, the same command continues once
space is freed), a read-only or unwritable folder a ``UserError``. Every read of a file srlm
wrote (``read_rows``, ``read_json``, ``RowLog``) refuses a damaged line with ``file:line``
instead of reading part of it or writing over it; only a partial file's torn *last* line, what
a kill leaves, is repaired.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

from srlm.errors import DiskFull, UserError, at_line
from srlm.runtime import distributed
from srlm.runtime.signals import deferred


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
# The write layer: what a failed write tells the user

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def write_error(path: Path, exc: OSError) -> UserError:
    """One line for a failed write of ``path``: ``DiskFull`` when space ran out."""
    reason = exc.strerror or str(exc)
    blocker = _file_in_the_way(path) if exc.errno in (errno.EEXIST, errno.ENOTDIR) else None
    if blocker is not None:
        return UserError(f"{blocker}: is a file where srlm needs a folder (to write {path})")
    if exc.errno in _NO_SPACE:
        return DiskFull(f"{path}: cannot write: {reason}; every file written before is intact: free some space and run the same command again to continue")
    return UserError(f"{path}: cannot write ({reason}); the run directory must be on a writable disk")


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing folder of ``path``'s that is a file instead."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


@contextmanager
def writing(path: Path, cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside: an ``OSError`` (or a library's error carrying one, as safetensors' does) while
    writing ``path`` becomes ``write_error``; ``cleanup()`` first removes what was half-written."""
    try:
        yield
    except OSError as exc:
        _clean(cleanup)
        raise write_error(path, exc) from None
    except Exception as exc:  # noqa: BLE001 - safetensors reports a full disk as its own error type
        if "No space left on device" not in str(exc) and "StorageFull" not in str(exc):
            raise
        _clean(cleanup)
        raise write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None


def _clean(cleanup: Callable[[], None] | None) -> None:
    if cleanup is not None:
        try:
            cleanup()
        except OSError:
            pass  # best effort: the error about the write is the one to report


# ---------------------------------------------------------------------------------------------
# Whole-file atomic writes


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with deferred(), writing(path, cleanup=lambda: tmp.unlink(missing_ok=True)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file srlm wrote; a damaged one is refused naming its line."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise at_line(path, exc.lineno, f"damaged ({exc.msg}, column {exc.colno}); {_WHOLE}: {_fix(path)}") from None


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


def read_rows(path: Path, key: str | None = None) -> list[dict]:
    """Read a JSONL file this program wrote whole (every row an object, holding ``key`` if given).

    The file was complete when it was renamed into place, so any line that does not parse, and
    a last line without its newline, is damage: refused with ``file:line``, never half-read.
    """
    data = _read_bytes(path)
    if data and not data.endswith(b"\n"):
        raise at_line(path, data.count(b"\n") + 1, f"damaged (the last line is cut off); {_WHOLE}: {_fix(path)}")
    return _parse_rows(path, data, key)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: missing, though the step that writes it counts as done: {_fix(path)}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: damaged (invalid UTF-8 at byte {exc.start}); {_WHOLE}: {_fix(path)}") from None


def _parse_rows(path: Path, data: bytes, key: str | None, whole: bool = True) -> list[dict]:
    """The rows of complete JSONL lines; the first damaged line is a ``UserError`` at its number.

    ``whole``: the file was renamed into place complete; else it is a partial file, whose rows
    were appended and fsynced one chunk at a time (only its last line could have been torn).
    """
    why = _WHOLE if whole else "srlm appends whole rows and repairs only a torn last line, so it was changed since"
    rows = []
    for number, line in enumerate(data.split(b"\n"), start=1):  # not splitlines(): U+2028 is text
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            what = f"invalid UTF-8 at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else f"invalid JSON: {exc.msg}, column {exc.colno}"
            raise at_line(path, number, f"damaged ({what}); {why}: {_fix(path)}") from None
        if not isinstance(row, dict) or (key is not None and key not in row):
            raise at_line(path, number, f"damaged (not a row {'with ' + repr(key) if key else 'object'}); {why}: {_fix(path)}")
        rows.append(row)
    return rows


_WHOLE = "srlm wrote it whole, so it was changed since"


def _fix(path: Path) -> str:
    """What to do about a damaged or missing file srlm wrote."""
    if path.parent.name == "data":
        return f"restore it, or delete the folder {path.parent} to rebuild the seed data"
    return "restore it, or delete it to run the step that writes it again"


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
        self.rows: list[dict] = read_rows(final, key) if final.exists() else self._read_partials()
        self.ids = {row[key] for row in self.rows}

    @property
    def done(self) -> bool:
        return self.final.exists()

    def append(self, rows: list[dict]) -> None:
        """Append rows whose ids are new, durably (flush + fsync) before returning."""
        fresh = [row for row in rows if row[self.key] not in self.ids]
        if not fresh:
            return
        size = self.partial.stat().st_size if self.partial.exists() else None
        # A failed write (a full disk) is cut back to the rows before it: never a torn line.
        with deferred(), writing(self.partial, cleanup=lambda: _cut_back(self.partial, size)):
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
        with deferred():  # a stop waits until the final file is in place and the partials gone
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
            for row in _recover(path, self.key, truncate=path == self.partial):
                if row[self.key] not in seen:
                    seen.add(row[self.key])
                    rows.append(row)
        return rows


def _cut_back(path: Path, size: int | None) -> None:
    """``path`` as it was before a failed append: ``size`` bytes long, or absent (``None``)."""
    if size is None:
        path.unlink(missing_ok=True)
    else:
        os.truncate(path, size)


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


def _recover(path: Path, key: str, truncate: bool = True) -> list[dict]:
    """Rows of a partial file, dropping a torn last line (and truncating it away if ``truncate``).

    Only the last line can be torn by a kill (rows are appended, then fsynced); a damaged line
    before it is refused with ``file:line`` like damage in a final file.
    """
    data = _read_bytes(path)
    complete = data[: data.rfind(b"\n") + 1]
    if truncate and len(complete) != len(data):
        with writing(path):
            with open(path, "r+b") as handle:
                handle.truncate(len(complete))
    return _parse_rows(path, complete, key, whole=False)


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
        with writing(self.path):  # the run directory's first write: a read-only disk ends here
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take()
        return self

    def _take(self) -> None:
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
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode())

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
