"""Run directory: atomic files, resumable row logs, the run lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srlm.errors import UserError
from srlm.runtime.rundir import RowLog, RunLock, read_rows, run_dir_for, write_json


def test_write_json_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "s.json", {"x": 1})
    assert json.loads((tmp_path / "a" / "s.json").read_text()) == {"x": 1}
    assert list((tmp_path / "a").iterdir()) == [tmp_path / "a" / "s.json"]


def test_row_log_appends_skips_known_ids_and_finishes(tmp_path: Path) -> None:
    log = RowLog(tmp_path / "rows.jsonl")
    log.append([{"id": "b", "v": 1}, {"id": "a", "v": 2}])
    log.append([{"id": "a", "v": 3}])  # already written: skipped
    again = RowLog(tmp_path / "rows.jsonl")
    assert again.ids == {"a", "b"} and not again.done
    assert again.finish(order=["a", "b"]) == [{"id": "a", "v": 2}, {"id": "b", "v": 1}]
    assert read_rows(tmp_path / "rows.jsonl") == [{"id": "a", "v": 2}, {"id": "b", "v": 1}]
    assert not (tmp_path / "rows.jsonl.partial").exists()


def test_row_log_drops_a_torn_last_line(tmp_path: Path) -> None:
    partial = tmp_path / "rows.jsonl.partial"
    partial.write_text('{"id": "a"}\n{"id": "b", "text": "cut of')
    log = RowLog(tmp_path / "rows.jsonl")
    assert log.ids == {"a"}
    log.append([{"id": "b", "text": "whole"}])
    assert read_rows(partial) == [{"id": "a"}, {"id": "b", "text": "whole"}]


def test_row_log_keeps_arbitrary_text(tmp_path: Path) -> None:
    text = 'line\nbreak "quotes" \\ \u2028 emoji \U0001F600 {braces} </script>'
    log = RowLog(tmp_path / "r.jsonl")
    log.append([{"id": "x", "text": text}])
    assert RowLog(tmp_path / "r.jsonl").rows[0]["text"] == text


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    with RunLock(lock):
        with pytest.raises(UserError, match="another srlm process"):
            with RunLock(lock):
                pass
    assert not lock.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    lock.write_text(f"{socket.gethostname()}:{dead.stdout.strip()}\n")
    with RunLock(lock):
        assert lock.read_text().strip().endswith(f":{os.getpid()}")


def test_run_names_cannot_escape(tmp_path: Path) -> None:
    assert run_dir_for(str(tmp_path), "ok").root == (tmp_path / "ok").resolve()
    for name in ("../up", "/abs", "a/b"):
        with pytest.raises(UserError):
            run_dir_for(str(tmp_path), name)


def test_the_completion_marker_lies_beside_the_model_folder_and_the_old_place_still_counts(tmp_path: Path) -> None:
    from srlm.runtime.rundir import completion_marker, mark_model_done, model_done

    model = tmp_path / "M2" / "model"
    assert not model_done(model)
    model.mkdir(parents=True)
    mark_model_done(model)
    assert completion_marker(model) == tmp_path / "M2" / "COMPLETE" and completion_marker(model).is_file()
    assert model_done(model) and not (model / "COMPLETE").exists()  # nothing of srlm's ships with the model
    completion_marker(model).rename(model / "COMPLETE")  # a run made before the marker moved
    assert model_done(model)
    (model / "COMPLETE").unlink()
    assert not model_done(model)
