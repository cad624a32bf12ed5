"""Is a saved checkpoint whole? Checked before a run resumes from it or loads it.

A checkpoint marked complete can still be damaged later: a weight file deleted, cut short by a
copy that ran out of space, or overwritten. Loading it would fail deep inside transformers (or,
for a file cut at a tensor boundary, might not fail at all). A safetensors file says in its
header where every tensor's bytes end, so comparing that with the file's size finds a truncated
file without reading the weights; a sharded checkpoint's index names every shard it needs.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from srlm.errors import UserError
from srlm.runtime.rundir import RunDir, model_done

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
_HEADER_LIMIT = 100_000_000  # the safetensors format's own limit on the header's size


class CheckpointDamaged(UserError):
    """A checkpoint folder lacks a file or holds a truncated one; the message says which and the fix."""


def verify_checkpoint(model: Path) -> None:
    """Raise ``CheckpointDamaged`` naming the first missing or truncated file of ``model``.

    Checks ``config.json`` and every safetensors weight file (one file, or the shards named by
    ``model.safetensors.index.json``): its header parses and its size is what the header's
    offsets say. A folder that holds other weight formats only (``.bin``) is left to the loader.
    """
    if not (model / "config.json").is_file():
        raise _damaged(model, model / "config.json", "is missing")
    for weights in _weight_files(model):
        _check_safetensors(model, weights)


def verify_run(run: RunDir) -> int:
    """Check every checkpoint of ``run`` that counts as complete (before a resumed run uses any);
    returns how many were checked."""
    checked, t = 0, 1
    while run.model_dir(t).exists():
        if model_done(run.model(t)):
            verify_checkpoint(run.model(t))
            checked += 1
        t += 1
    return checked


def _weight_files(model: Path) -> list[Path]:
    """The safetensors files the checkpoint needs: the index's shards, or the single file."""
    index = model / INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _damaged(model, index, "is not a valid shard index (no 'weight_map' of file names)") from None
        return [model / name for name in shards]
    if (model / SINGLE).exists() or not any(model.glob("*.bin")):
        return [model / SINGLE]
    return []


def _check_safetensors(model: Path, path: Path) -> None:
    """The header parses (safetensors' own reader) and the file holds every byte it promises."""
    if not path.is_file():
        raise _damaged(model, path, "is missing")
    size = path.stat().st_size
    expected = _expected_size(model, path, size)
    if size != expected:
        raise _damaged(model, path, f"is truncated or damaged ({size:,} bytes, its header says {expected:,})")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
        raise _damaged(model, path, f"cannot be read ({exc})") from None


def _expected_size(model: Path, path: Path, size: int) -> int:
    """8 bytes of header length + the JSON header + the end of the last tensor's bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise _damaged(model, path, f"is truncated ({size} bytes, not even a header)")
        (length,) = struct.unpack("<Q", head)
        if length > min(_HEADER_LIMIT, size - 8):
            raise _damaged(model, path, f"is truncated or not a safetensors file (header of {length:,} bytes in a file of {size:,})")
        try:
            header = json.loads(handle.read(length))
            end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise _damaged(model, path, "has a damaged header (not safetensors JSON)") from None
    return 8 + length + int(end)


def _damaged(model: Path, path: Path, what: str) -> CheckpointDamaged:
    return CheckpointDamaged(f"{path}: checkpoint file {what}; {fix(model)}")


def fix(model: Path) -> str:
    """How to recover: a run's own M<t> is retrained once its folder is gone; any other is re-saved."""
    folder = model.parent if model.name == "model" else model
    if re.fullmatch(r"M\d+", folder.name):
        return f"delete the folder {folder} to retrain it (the same srlm run command then retrains {folder.name})"
    return f"the model folder {model} is damaged: copy or save it again"
