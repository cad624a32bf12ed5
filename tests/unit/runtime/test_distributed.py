"""srlm.runtime.distributed and RowLog's per-rank files, with ranks simulated one after another (no process group)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.runtime import distributed
from srlm.runtime.rundir import RowLog, read_rows


@pytest.fixture
def as_rank(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be rank k of n; barriers return at once (the other ranks are simulated in turn)."""
    monkeypatch.setattr(distributed, "barrier", lambda: None)

    def become(k: int, n: int) -> None:
        monkeypatch.setenv("RANK", str(k))
        monkeypatch.setenv("WORLD_SIZE", str(n))

    return become


def test_one_process_without_a_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    assert distributed.on_main(lambda x: x + 1, 1) == 2
    assert distributed.main_first(lambda: "read") == "read"
    distributed.barrier()  # a no-op, no process group needed


def test_chunks_go_round_robin(as_rank) -> None:
    as_rank(1, 3)
    assert [i for i, _ in distributed.shard(enumerate("abcdefg"))] == [1, 4]


def test_threads_are_shared_among_a_machines_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed.os, "cpu_count", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert distributed.threads_per_process() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert distributed.threads_per_process() == 1


def test_each_rank_appends_to_its_own_file_and_the_main_merges_in_order(as_rank, tmp_path: Path) -> None:
    final = tmp_path / "rows.jsonl"
    as_rank(1, 2)
    RowLog(final).append([{"id": "b"}, {"id": "d"}])
    as_rank(0, 2)
    main = RowLog(final)
    assert main.ids == {"b", "d"}  # a rank sees what the others wrote before it opened
    main.append([{"id": "a"}, {"id": "c"}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl.rank0.partial", "rows.jsonl.rank1.partial"]
    assert [r["id"] for r in main.finish(order=["a", "b", "c", "d"])] == ["a", "b", "c", "d"]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
    as_rank(1, 2)
    assert RowLog(final).done


def test_a_torn_line_is_cut_only_by_its_own_rank(as_rank, tmp_path: Path) -> None:
    final = tmp_path / "rows.jsonl"
    other = tmp_path / "rows.jsonl.rank1.partial"
    other.write_text('{"id": "b"}\n{"id": "d", "te')
    as_rank(0, 2)
    assert RowLog(final).ids == {"b"}
    assert other.read_text().endswith('"te')  # rank 1 may still be writing that line
    as_rank(1, 2)
    assert RowLog(final).ids == {"b"}
    assert other.read_text() == '{"id": "b"}\n'


def test_one_process_resumes_what_two_left(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    final = tmp_path / "rows.jsonl"
    (tmp_path / "rows.jsonl.rank0.partial").write_text('{"id": "a"}\n')
    (tmp_path / "rows.jsonl.rank1.partial").write_text('{"id": "b"}\n{"id": "a"}\n')
    log = RowLog(final)
    assert [r["id"] for r in log.rows] == ["a", "b"]  # each id once
    log.append([{"id": "c"}, {"id": "a"}])
    assert read_rows(tmp_path / "rows.jsonl.partial") == [{"id": "c"}]
    assert [r["id"] for r in log.finish(order=["c", "b", "a"])] == ["c", "b", "a"]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
