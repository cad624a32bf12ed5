"""The machine's resources for one process: torch threads, and memory handed back between stages."""

from __future__ import annotations


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads (0 = all cores, shared among a machine's processes) for torch's matrix work."""
    import torch

    from srlm.runtime.distributed import threads_per_process

    torch.set_num_threads(threads or threads_per_process())


def free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system.

    A released generation model and its KV buffers leave hundreds of MB in glibc's free lists,
    which count in the process's resident memory while the next stage trains; ``malloc_trim``
    returns them (Linux with glibc; elsewhere only the collection runs).
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name and "libc" in name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):  # musl and others have no malloc_trim
            pass
