"""Several processes on one run: who am I, waiting for each other, and who generates which chunk.

``torchrun --nproc_per_node N -m srlm run CONFIG`` (or ``accelerate launch`` with a multi-process
config) starts N copies of the same command; each finds RANK, WORLD_SIZE and LOCAL_RANK in its
environment. Without them (or with WORLD_SIZE=1) every function here is a no-op, so a
one-process run never touches ``torch.distributed``.

The rules that keep N processes consistent (docs/scaling.md):

- generation stages: chunk i belongs to rank i % N; seeds depend only on i, so the rows are those
  of a one-process run. Each rank appends to its own partial file; ``RowLog.finish`` merges.
- whole files (config, seed data, prompts, pairs, stats, eval, checkpoints): the main process
  writes them; the others wait and read what it wrote (``on_main``, ``main_first``).
- training: every process trains (TRL's trainers run DDP, FSDP or DeepSpeed); the main saves.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable, Iterable, Iterator, TypeVar

from srlm.errors import UserError

T = TypeVar("T")

# Ranks wait at a barrier while the main process writes seed data or saves a checkpoint; a
# large model's save takes minutes, far from torch's default NCCL timeout, hence a long default.
TIMEOUT_ENV = "SRLM_DIST_TIMEOUT_MINUTES"
DEFAULT_TIMEOUT_MINUTES = 120


def world_size() -> int:
    """Number of processes in this run (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's index, 0 to world_size() - 1; rank 0 is the main process."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its own machine (its GPU number)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """Number of this run's processes on this machine."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def sharded_training() -> bool:
    """Whether ``accelerate launch`` asked for FSDP or DeepSpeed (its config sets these variables)."""
    return any(os.environ.get(name, "").lower() == "true" for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def threads_per_process() -> int:
    """This machine's cores shared among its processes (at least one each)."""
    return max(1, (os.cpu_count() or 1) // max(1, local_world_size()))


def init() -> None:
    """Join the launcher's process group: gloo on CPU, NCCL on GPUs; nothing in one process."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    timeout = timedelta(minutes=int(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_MINUTES)))
    if not torch.cuda.is_available():
        dist.init_process_group("gloo", timeout=timeout)
        return
    # From here on "cuda" means this process's own GPU (generation, barriers, training); NCCL
    # is told the device too, rather than guessing it from the rank.
    device = torch.device("cuda", local_rank())
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", timeout=timeout, device_id=device)


def shutdown() -> None:
    """Leave the process group at the end of a run (torch warns when a group is left open)."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process of the run gets here."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    init()
    dist.barrier()


def _from_main(value: Any) -> Any:
    """The main process's ``value``, in every process."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn: Callable[..., T], *args: Any) -> T | None:
    """Run ``fn(*args)`` on the main process only; the others wait, and fail if it failed.

    Every process first meets at a barrier, so a check another process made before calling this
    (for example "is this file there yet?") cannot see what ``fn`` writes: all processes decide
    from the same files and take the same path through the stage.
    """
    if world_size() == 1:
        return fn(*args)
    barrier()
    result, failure = None, None
    if is_main():
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - passed on to the other processes, then raised
            failure = exc
    outcome = _from_main(None if failure is None else (isinstance(failure, UserError), str(failure)))
    if failure is not None:
        raise failure
    if outcome is not None:
        user_error, message = outcome
        raise UserError(message) if user_error else RuntimeError(f"the main process failed: {message}")
    return result


def main_first(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the main process, then on the others.

    For steps that write files once and read them when they exist (seed data, pairs): the main
    process writes, and the others get exactly what it wrote.
    """
    result = on_main(fn, *args)
    if is_main():
        return result  # type: ignore[return-value]
    return fn(*args)


def shard(chunks: Iterable[tuple[int, T]]) -> Iterator[tuple[int, T]]:
    """This process's share of ``(chunk index, chunk)`` pairs: chunk i goes to rank i % world_size().

    >>> list(shard(enumerate("abc")))  # one process: every chunk
    [(0, 'a'), (1, 'b'), (2, 'c')]
    """
    size, me = world_size(), rank()
    for index, chunk in chunks:
        if index % size == me:
            yield index, chunk
