"""The bad-input cases that damage a run directory (kinds run_dir, run_file, checkpoint).

Each one runs ``srlm run`` in this process, as a user would after the damage: a run_dir case on
a fresh run whose folder cannot be written; a run_file or checkpoint case on a copy of the
finished reference run (tests/reliability/conftest.py) with one file damaged. ``run_case``
returns the exit status, stderr, and a check that the damaged input was not written over.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.reliability.harness import FAST

Check = Callable[[], bool]


# ---------------------------------------------------------------------------------------------
# Damage to one file of a finished run: each returns the damaged path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def _replace_line(path: Path, number: int, new: bytes) -> Path:
    lines = _lines(path)
    lines[number - 1] = new
    path.write_bytes(b"\n".join(lines))
    return path


def _cut_line(path: Path, number: int) -> Path:
    """Delete the second half of line ``number`` and its newline (it merges with the next)."""
    lines = _lines(path)
    lines[number - 1 : number + 1] = [lines[number - 1][: len(lines[number - 1]) // 2] + lines[number]]
    path.write_bytes(b"\n".join(lines))
    return path


def _bad_byte(path: Path, number: int) -> Path:
    lines = _lines(path)
    lines[number - 1] = lines[number - 1][:10] + b"\xff" + lines[number - 1][11:]
    path.write_bytes(b"\n".join(lines))
    return path


def _truncate(path: Path, size: int) -> Path:
    os.truncate(path, size)
    return path


def _overwrite(path: Path, offset: int, data: bytes) -> Path:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    return path


def _delete(path: Path) -> Path:
    path.unlink()
    return path


def _partial(root: Path) -> Path:
    """candidates.jsonl back to a stage in progress (4 rows appended), its line 2 damaged."""
    final = root / "iter1" / "candidates.jsonl"
    partial = final.with_name(final.name + ".partial")
    partial.write_bytes(b"\n".join(_lines(final)[:4]) + b"\n")
    final.unlink()
    return _replace_line(partial, 2, b'{"id": "p0-c1", "prompt_id": "p0", "resp')


def _shards(root: Path, index_text: str | None) -> Path:
    """M1 as a sharded checkpoint: its one file renamed to shard 1, the index naming shard 2 too."""
    model = root / "M1" / "model"
    weights = model / "model.safetensors"
    (length,) = struct.unpack("<Q", weights.read_bytes()[:8])
    names = [k for k in json.loads(weights.read_bytes()[8 : 8 + length]) if k != "__metadata__"]
    weights.rename(model / "model-00001-of-00002.safetensors")
    weight_map = {name: "model-00001-of-00002.safetensors" for name in names[1:]} | {names[0]: "model-00002-of-00002.safetensors"}
    index = model / "model.safetensors.index.json"
    index.write_text(index_text if index_text is not None else json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index if index_text is not None else model / "model-00002-of-00002.safetensors"


def _size(path: Path) -> int:
    return path.stat().st_size


_ITER = ("M2",)  # removed so that iteration 1 runs again and reads its files
RUN_FILES: dict[str, tuple[tuple[str, ...], Callable[[Path], Path]]] = {
    "candidates_garbage_line_3": (_ITER, lambda r: _replace_line(r / "iter1/candidates.jsonl", 3, b'{"id": "p1-c0", "prompt_id"')),
    "judgments_nul_line_2": (_ITER, lambda r: _replace_line(r / "iter1/judgments.jsonl", 2, b"\0" * len(_lines(r / "iter1/judgments.jsonl")[1]))),
    "prompts_line_2_cut": (_ITER, lambda r: _cut_line(r / "iter1/prompts.jsonl", 2)),
    "pairs_row_not_an_object": (_ITER, lambda r: _replace_line(r / "iter1/pairs.jsonl", 1, b"[1, 2]")),
    "candidates_last_line_cut": (_ITER, lambda r: _truncate(r / "iter1/candidates.jsonl", _size(r / "iter1/candidates.jsonl") - 20)),
    "judgments_row_without_id": (_ITER, lambda r: _replace_line(r / "iter1/judgments.jsonl", 2, b'{"candidate": "p0-c1", "scores": [3]}')),
    "candidates_invalid_utf8_line_2": (_ITER, lambda r: _bad_byte(r / "iter1/candidates.jsonl", 2)),
    "seed_sft_damaged_line_5": ((), lambda r: _replace_line(r / "data/sft.jsonl", 5, b"garbage")),
    "seed_ift_deleted": ((), lambda r: _delete(r / "data/ift.jsonl")),
    "candidates_partial_damaged_line_2": (_ITER, _partial),
    "frozen_config_invalid_yaml": ((), lambda r: _replace_line(r / "config.yaml", 2, b"method: [self_rewarding")),
    "frozen_config_unknown_key": ((), lambda r: _replace_line(r / "config.yaml", 1, _lines(r / "config.yaml")[0] + b"\nfrom_the_future: 1")),
    "stats_invalid_json": ((*_ITER, "iter1/pairs.jsonl"), lambda r: _truncate(r / "iter1/stats.json", _size(r / "iter1/stats.json") // 2)),
    "m1_weights_truncated": ((), lambda r: _truncate(r / "M1/model/model.safetensors", _size(r / "M1/model/model.safetensors") // 2)),
    "m1_weights_missing": ((), lambda r: _delete(r / "M1/model/model.safetensors")),
    "m1_weights_empty": ((), lambda r: _truncate(r / "M1/model/model.safetensors", 0)),
    "m1_weights_header_garbage": ((), lambda r: _overwrite(r / "M1/model/model.safetensors", 0, b"\xff" * 8)),
    "m1_weights_header_json_damaged": ((), lambda r: _overwrite(r / "M1/model/model.safetensors", 8, b"\x00garbage")),
    "m1_config_missing": ((), lambda r: _delete(r / "M1/model/config.json")),
    "m2_weights_one_byte_short": ((), lambda r: _truncate(r / "M2/model/model.safetensors", _size(r / "M2/model/model.safetensors") - 1)),
    "m2_weights_extra_bytes": ((), lambda r: _overwrite(r / "M2/model/model.safetensors", _size(r / "M2/model/model.safetensors"), b"\0" * 100)),
    "m1_shard_missing": ((), lambda r: _shards(r, None)),
    "m1_shard_index_damaged": ((), lambda r: _shards(r, '{"weight_map": ')),
}


def _snapshot(path: Path) -> Check:
    """A check that ``path`` is as it is now (absent if it is absent now)."""
    data = path.read_bytes() if path.is_file() else None
    return lambda: (path.read_bytes() if path.is_file() else None) == data


def _damaged_copy(case: dict, request: pytest.FixtureRequest, runs: Path, config: dict) -> Check:
    root = runs / "t"
    shutil.copytree(request.getfixturevalue("reference")["root"], root)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # this copy's runs_dir
    removed, damage = RUN_FILES[case["damage"]]
    for rel in removed:
        shutil.rmtree(root / rel) if (root / rel).is_dir() else (root / rel).unlink()
    return _snapshot(damage(root))


# ---------------------------------------------------------------------------------------------
# A run directory that cannot be written


def _read_only(runs: Path, request: pytest.FixtureRequest) -> None:
    runs.mkdir()
    if os.geteuid() != 0:
        runs.chmod(0o555)
        request.addfinalizer(lambda: runs.chmod(0o755))
        return
    # root writes into any folder whatever its mode: a read-only filesystem is the real case
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(runs)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"runs as root and cannot mount a read-only tmpfs ({mounted.stderr.decode().strip()})")
    request.addfinalizer(lambda: subprocess.run(["umount", str(runs)], check=False))


def _unwritable(case: dict, request: pytest.FixtureRequest, runs: Path) -> Check:
    name = case["damage"]
    if name == "runs_dir_read_only":
        _read_only(runs, request)
        return lambda: list(runs.iterdir()) == []
    if name == "runs_dir_is_a_file":
        runs.write_text("a file\n")
        return _snapshot(runs)
    runs.mkdir()
    if name == "run_dir_is_a_file":
        (runs / "t").write_text("a file\n")
        return _snapshot(runs / "t")
    (runs / "t").mkdir()
    if name == "lock_is_a_directory":
        (runs / "t" / "run.lock").mkdir()
        return lambda: (runs / "t" / "run.lock").is_dir()
    assert name == "data_is_a_file", name
    (runs / "t" / "data").write_text("a file\n")
    return _snapshot(runs / "t" / "data")


def _base_model_truncated(request: pytest.FixtureRequest, model: Path) -> Check:
    shutil.copytree(request.getfixturevalue("tiny_model_dir"), model)
    weights = model / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    return _snapshot(weights)


# ---------------------------------------------------------------------------------------------


def run_case(case: dict, request: pytest.FixtureRequest) -> tuple[int | str, str, Check]:
    """Damage as the case says, then ``srlm run``; (exit status, stderr, untouched check)."""
    import torch

    from srlm.cli import main
    from srlm.config import load_config, to_dict
    from srlm.stages import sft
    from tests.helpers.scripted import tiny_overrides

    tmp: Path = request.getfixturevalue("tmp_path")
    runs, model = tmp / "runs", request.getfixturevalue("tiny_model_dir")
    if case["damage"] == "base_model_truncated":
        model = tmp / "model"
        untouched = _base_model_truncated(request, model)
    config = to_dict(load_config(None, tiny_overrides(model, runs, *FAST)))
    if case["kind"] == "run_file" or case["kind"] == "checkpoint":
        untouched = _damaged_copy(case, request, runs, config)
    elif case["kind"] == "run_dir":
        untouched = _unwritable(case, request, runs)
    if case["kind"] != "checkpoint" and not case["damage"].startswith(("m1_", "m2_")) and case["kind"] != "run_file":
        request.getfixturevalue("monkeypatch").setattr(sft, "run", _reached_training)
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    threads = torch.get_num_threads()
    try:
        code: int | str = main(["run", str(path)])
    except ReachedTraining:
        code = "reached training"
    finally:
        torch.set_num_threads(threads)
    return code, request.getfixturevalue("capsys").readouterr().err, untouched


class ReachedTraining(Exception):
    """Raised where SFT would start: the damage got past every check before training."""


def _reached_training(*args: object, **kwargs: object) -> None:
    raise ReachedTraining
