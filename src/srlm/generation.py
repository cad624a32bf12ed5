"""The one resumable generation loop: every stage and evaluation that asks a model for text.

Prompts, candidates, judgments, meta-judgments, evaluation judgments, head-to-head answers and
verdicts all run the same steps, written once here:

1. cut the items into chunks whose boundaries depend only on the chunk size;
2. give this process its share of the chunks (chunk i goes to rank i % world size);
3. skip a chunk whose rows are all in the log already (a resumed run);
4. seed the chunk's decoding by its index, so a resumed run samples what an uninterrupted one
   would have;
5. generate, turn outputs into rows, append them durably (``RowLog.append`` fsyncs);
6. show progress (main process only).

The caller finishes the log (``RowLog.finish``) with its own row order and stats, because
that differs per stage. A caller says only how an item becomes a request
(``Generation.request``) and how a chunk's outputs become rows (``Generation.rows``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tqdm import tqdm

from srlm.backends.base import Backend, Conversation, Sampling
from srlm.runtime import console, distributed
from srlm.runtime.rundir import RowLog

Item = TypeVar("Item")


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, the same on every machine and Python run."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def chunked(items: Sequence[Item], size: int) -> Iterator[tuple[int, Sequence[Item]]]:
    """(chunk index, items) in order: chunk boundaries depend only on ``size``."""
    for index, start in enumerate(range(0, len(items), size)):
        yield index, items[start : start + size]


def progress(total: int, desc: str, unit: str, show: bool = True) -> tqdm:
    """A progress bar with rows/s for a long stage (shown by the main process only; in the run's
    log instead of the console when the console is quiet)."""
    options = {"dynamic_ncols": True, "leave": False, **console.bar_options()}
    return tqdm(total=total, desc=desc, unit=unit, disable=not (show and distributed.is_main()), **options)


def _own_id(item: object) -> Sequence[str]:
    return [item["id"]]  # type: ignore[index]


@dataclass(frozen=True)
class Generation(Generic[Item]):
    """What one caller of the loop supplies.

    ``sampling(chunk_index)`` is the chunk's decoding with its seed; ``request(item)`` the
    conversation sent for an item; ``rows(chunk, outputs, conversations)`` the log rows made
    from a chunk's outputs (one list of ``n`` texts per item); ``row_ids(item)`` the ids of
    the rows an item yields (a chunk whose ids are all logged is skipped).
    """

    label: str
    unit: str
    chunk_size: int
    sampling: Callable[[int], Sampling]
    request: Callable[[Item], Conversation]
    rows: Callable[[Sequence[Item], list[list[str]], list[Conversation]], list[dict]]
    row_ids: Callable[[Item], Sequence[str]] = _own_id
    units_per_item: int = 1
    show_progress: bool = True


def generate_missing(job: Generation[Item], items: Sequence[Item], backend: Callable[[], Backend], log: RowLog) -> None:
    """Append to ``log`` the rows of every chunk of ``items`` it lacks (this process's chunks).

    ``backend()`` is called only for a chunk that needs generating, so a finished stage never
    loads its model.
    """

    def make_rows(index: int, chunk: Sequence[Item]) -> list[dict]:
        conversations = [job.request(item) for item in chunk]
        return job.rows(chunk, backend().generate(conversations, job.sampling(index)), conversations)

    compute_missing(items, make_rows, log, job.chunk_size, job.row_ids, progress(len(items) * job.units_per_item, job.label, job.unit, job.show_progress), job.units_per_item)


def compute_missing(
    items: Sequence[Item], make_rows: Callable[[int, Sequence[Item]], list[dict]], log: RowLog, chunk_size: int,
    row_ids: Callable[[Item], Sequence[str]] = _own_id, bar: tqdm | None = None, units_per_item: int = 1,
) -> None:
    """Steps 1-6 for any per-chunk computation: ``make_rows(chunk_index, chunk)`` runs only for
    this process's chunks that lack rows in ``log`` (generation, or a scalar judge's scores)."""
    try:
        for index, chunk in distributed.shard(chunked(items, max(1, chunk_size))):
            if not all(row_id in log.ids for item in chunk for row_id in row_ids(item)):
                log.append(make_rows(index, chunk))
            if bar is not None:
                bar.update(len(chunk) * units_per_item)
    finally:
        if bar is not None:
            bar.close()  # also on an error or a stop: its message then starts a clean line
