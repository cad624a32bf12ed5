"""The one resumable generation loop: chunks, seeds by chunk index, skipping what is logged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from srlm.backends.base import Conversation, Sampling
from srlm.generation import Generation, chunked, generate_missing, stable_seed
from srlm.runtime.rundir import RowLog
from tests.helpers.fakes import FakeBackend


class Echo(FakeBackend):
    """Answers each request with its text and the call's seed; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Sampling]] = []

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        requests = [c[-1]["content"] for c in conversations]
        self.calls.append((requests, sampling))
        return [[f"{r}|{sampling.seed}|{k}" for k in range(sampling.n)] for r in requests]


def _job(n: int = 1, chunk_size: int = 2) -> Generation[dict]:
    def rows(chunk: Sequence[dict], outputs: list[list[str]], conversations: list[Conversation]) -> list[dict]:
        assert [c[-1]["content"] for c in conversations] == [item["text"] for item in chunk]
        return [{"id": f"{item['id']}-{k}", "text": text} for item, texts in zip(chunk, outputs) for k, text in enumerate(texts)]

    return Generation(
        label="test", unit="row", chunk_size=chunk_size, show_progress=False,
        sampling=lambda index: Sampling(n=n, seed=1000 + index),
        request=lambda item: [{"role": "user", "content": item["text"]}], rows=rows,
        row_ids=lambda item: [f"{item['id']}-{k}" for k in range(n)], units_per_item=n,
    )


ITEMS = [{"id": f"i{k}", "text": f"question {k}"} for k in range(5)]


def test_chunks_are_fixed_by_size_and_seeded_by_index(tmp_path: Path) -> None:
    backend, log = Echo(), RowLog(tmp_path / "out.jsonl")
    generate_missing(_job(n=2), ITEMS, lambda: backend, log)
    assert [len(requests) for requests, _ in backend.calls] == [2, 2, 1]
    assert [sampling.seed for _, sampling in backend.calls] == [1000, 1001, 1002]
    assert [row["id"] for row in log.rows] == [f"i{k}-{s}" for k in range(5) for s in range(2)]


def test_a_resumed_run_generates_only_missing_chunks_with_the_same_seeds(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = Echo()
    generate_missing(_job(), ITEMS, lambda: whole, RowLog(tmp_path / "whole.jsonl"))
    first = RowLog(path)
    generate_missing(_job(), ITEMS[:2], lambda: Echo(), first)  # the run stopped after chunk 0
    resumed, log = Echo(), RowLog(path)
    generate_missing(_job(), ITEMS, lambda: resumed, log)
    assert [requests for requests, _ in resumed.calls] == [["question 2", "question 3"], ["question 4"]]
    assert log.finish(order=[f"i{k}-0" for k in range(5)]) == RowLog(tmp_path / "whole.jsonl").rows


def test_a_finished_log_never_loads_the_model(tmp_path: Path) -> None:
    log = RowLog(tmp_path / "out.jsonl")
    generate_missing(_job(), ITEMS, Echo, log)

    def no_model() -> FakeBackend:
        raise AssertionError("the backend was loaded although every chunk is logged")

    generate_missing(_job(), ITEMS, no_model, RowLog(tmp_path / "out.jsonl"))


def test_chunked_and_stable_seed() -> None:
    assert [list(chunk) for _, chunk in chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert stable_seed(0, 1, "candidates", 3) == stable_seed(0, 1, "candidates", 3) != stable_seed(0, 1, "candidates", 4)
    assert 0 <= stable_seed("x") < 2**31
