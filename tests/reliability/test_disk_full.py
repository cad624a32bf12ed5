"""A full disk: writes fail with ENOSPC in every stage; the run stops cleanly and resumes exactly.

Two ways to fill the disk:

- injected (everywhere): kill_runner.py makes one chosen write fail with ``OSError(ENOSPC)`` in
  each stage in turn (an append's fsync, a final file's rename, a checkpoint save after its
  weights were written), counted within the stage so that a resumed run fails where it is meant
  to;
- real (when the test runs as root and may mount): the run directory is a tmpfs too small for
  M2, so safetensors itself hits ENOSPC while saving it; the tmpfs is then enlarged ("space is
  freed").

Each failure must exit 75 with one line naming the path it could not write, leave every file
as an uninterrupted run has it (no ``.tmp``, no torn row, no staging folder, M1 still the
latest complete model while M2 failed), and the same command must then finish the run with
exactly the files of an uninterrupted one.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from srlm.runtime.rundir import RunDir, model_done, read_rows
from tests.reliability.harness import Runner, attempt_log, fingerprint
from tests.reliability.kill_runner import frontier
from tests.reliability.test_kill import STAGES, leftovers

ORDER = ("startup", *STAGES, "finished")
FULL = "cannot write: No space left on device; every file written before is intact: free some space and run the same command again to continue"


def plan(rng: random.Random, reference: dict, stage: str) -> str | None:
    """A write of ``stage`` to fail: the checkpoint save where there is one, else an fsync or a rename."""
    spans = {point: s[stage] for point, s in reference["calls"]["stages"].items() if stage in s and point in ("fsync", "replace", "model-saved")}
    point = "model-saved" if "model-saved" in spans else rng.choice(sorted(spans)) if spans else None
    if point is None:
        return None
    first, last = spans[point]
    return f"{point}:{rng.randint(1, last - first + 1)}@{stage}"


def check_intact(root: Path, reference: Path) -> None:
    """What a failed write leaves: finished files as the reference has them, partial files
    holding only whole rows of the reference's, no temporary file or staging folder."""
    want = fingerprint(reference)
    for rel, digest in fingerprint(root).items():
        if rel.endswith(".partial"):
            final = reference / rel.removesuffix(".partial")
            assert (root / rel).read_bytes().endswith(b"\n"), f"{rel}: torn last row"
            assert all(row in read_rows(final) for row in read_rows(root / rel)), f"{rel}: a row the reference lacks"
        elif not rel.endswith("/model/README.md"):  # a model card is rewritten once its eval.json exists
            assert want.get(rel) == digest, f"{rel} differs from an uninterrupted run's"
    assert [p.name for p in root.rglob("*.tmp")] == [], "a half-written file or staging folder was left"


def latest_complete(root: Path) -> int:
    """The highest t whose M<t> counts as complete (0: none)."""
    return max((t for t in range(1, 10) if model_done(RunDir(root).model(t))), default=0)


def test_enospc_in_every_stage_stops_cleanly_and_resumes_to_identical_files(runner: Runner, reference: dict, tmp_path: Path, counts: dict) -> None:
    rng = random.Random(20240120)
    runs = tmp_path / "runs"
    failed: list[str] = []
    for stage in STAGES:
        if ORDER.index(frontier(runs / "t")) > ORDER.index(stage):
            continue
        where = plan(rng, reference, stage)
        if where is None:
            continue
        before = latest_complete(runs / "t")
        answer = runner.attempt(runs, inject=f"ENOSPC:{where}")
        assert answer["outcome"] == "exited" and answer["code"] == 75, attempt_log(runs)
        last = attempt_log(runs).strip().splitlines()[-1]
        assert "srlm: error: /" in last and FULL in last, last
        check_intact(runs / "t", reference["root"])
        if where.startswith("model-saved"):
            assert latest_complete(runs / "t") == before, "a checkpoint whose save failed counts as complete"
            assert f"/M{before + 1}/model.tmp: cannot write" in last, last
        failed.append(f"{stage} ({where.split(':')[0]})")
    final = runner.attempt(runs)
    assert final["outcome"] == "exited" and final["code"] == 0, attempt_log(runs)
    assert fingerprint(runs / "t") == fingerprint(reference["root"])
    assert leftovers(runs / "t") == []
    assert len(failed) == len(STAGES), failed
    counts.setdefault("enospc", []).extend(failed)


def _can_mount(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True).returncode:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


def _pages(root: Path, skip: str) -> int:
    """Bytes a tmpfs needs for ``root``'s files outside ``skip``, each rounded up to whole pages."""
    return sum(-(-p.stat().st_size // 4096) * 4096 + 4096 for p in root.rglob("*") if p.is_file() and not p.relative_to(root).as_posix().startswith(skip))


def test_a_real_full_disk_during_the_m2_save(runner: Runner, reference: dict, tmp_path: Path, counts: dict) -> None:
    """The run directory on a tmpfs with room for everything but M2's weights (root only)."""
    root = tmp_path / "runs" / "t"
    if not _can_mount(root):
        pytest.skip("needs root and permission to mount a tmpfs (the injected ENOSPC test covers the rest)")
    weights = (reference["root"] / "M2" / "model" / "model.safetensors").stat().st_size
    size = _pages(reference["root"], "M2/") + weights // 2  # the slack covers transient files, not M2
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)], check=True)
    try:
        answer = runner.attempt(root.parent)
        assert answer["outcome"] == "exited" and answer["code"] == 75, attempt_log(root.parent)
        last = attempt_log(root.parent).strip().splitlines()[-1]
        # The weights' staging folder, or the model card written after it: either way M2's files.
        assert re.search(r"/M2/model(\.tmp|/README\.md)\b.*: cannot write: No space left on device", last), last
        assert latest_complete(root) == 1
        check_intact(root, reference["root"])
        subprocess.run(["mount", "-o", f"remount,size={size + 2 * weights + (1 << 20)}", str(root)], check=True)  # space is freed
        final = runner.attempt(root.parent)
        assert final["outcome"] == "exited" and final["code"] == 0, attempt_log(root.parent)
        assert fingerprint(root) == fingerprint(reference["root"])
        assert leftovers(root) == []
    finally:
        subprocess.run(["umount", str(root)], check=False)
    counts.setdefault("enospc", []).append("a real full tmpfs during the M2 save")
