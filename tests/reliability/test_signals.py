"""Polite stops: SIGINT and SIGTERM at chosen points of every stage, then resume to identical files.

For each signal one run directory is stopped once in every stage (seed data, SFT, M1 eval,
prompts, candidates, judgments, pairs, DPO, M2 eval): at a seeded random occurrence, counted
within that stage, of a point where the signal lands inside a write (``fsync``, ``replace``,
``model-saved``), during generation or during a training step (kill_runner.py sends it; no
timing). Each stop must exit 128 + signal with the command that continues the run, leave no
``.tmp`` file nor a torn row log (the write under way was finished), and the run finished by
that command must hold exactly the files of an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.harness import Runner, attempt_log, fingerprint
from tests.reliability.kill_runner import RESUME, SIGNAL_POINTS, frontier
from tests.reliability.test_kill import STAGES, leftovers

ORDER = ("startup", *STAGES, "finished")


def plan(rng: random.Random, reference: dict, stage: str, signum: int) -> str | None:
    """A point of ``stage`` in the reference run and an occurrence of it counted within the stage.

    In the two training stages each signal lands once during a training step and once during
    the checkpoint save (SIGINT: SFT's step and DPO's save; SIGTERM the other way round).
    """
    options = {point: spans[stage] for point, spans in sorted(reference["calls"]["stages"].items()) if point in SIGNAL_POINTS and stage in spans}
    if not options:
        return None
    if stage in ("sft", "dpo"):
        point = "train-step" if (stage == "sft") == (signum == signal.SIGINT) else "model-saved"
        assert point in options, f"{point} never happened in {stage}: {sorted(options)}"
    else:
        point = rng.choice(sorted(options))
    first, last = options[point]
    return f"{point}:{rng.randint(1, last - first + 1)}@{stage}"


def check_stopped(answer: dict, signum: int, runs: Path) -> None:
    """The attempt ended by itself with 128 + signal, said how to continue, finished its write."""
    assert answer["outcome"] == "exited" and answer["code"] == 128 + signum, attempt_log(runs)
    # The last lines: a training progress bar may still be redrawn after it as it is collected.
    tail = attempt_log(runs).strip().splitlines()[-3:]
    said = f"srlm: stopped by {signal.Signals(signum).name}: every file written so far is complete; to continue the run: {RESUME}"
    assert any(line.endswith(said) for line in tail), tail
    root = runs / "t"
    assert sorted(p.name for p in root.rglob("*.tmp")) == [], "a write was left half done"
    assert [p.name for p in root.rglob("*.partial") if not p.read_bytes().endswith(b"\n") and p.stat().st_size] == []
    assert not (root / "run.lock").exists()  # released on the way out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_in_every_stage_resumes_to_the_files_of_an_uninterrupted_run(signum: int, runner: Runner, reference: dict, tmp_path: Path, counts: dict) -> None:
    rng = random.Random(20240119 + signum)
    runs = tmp_path / "runs"
    stopped: Counter = Counter()
    for stage in STAGES:
        if ORDER.index(frontier(runs / "t")) > ORDER.index(stage):
            continue  # the last stop landed after this stage's work was done
        where = plan(rng, reference, stage, signum)
        if where is None:
            continue
        answer = runner.attempt(runs, inject=f"{signal.Signals(signum).name}:{where}")
        check_stopped(answer, signum, runs)
        stopped[stage] += 1
        stopped["point " + where.split(":")[0]] += 1
    final = runner.attempt(runs)
    assert final["outcome"] == "exited" and final["code"] == 0, attempt_log(runs)
    assert fingerprint(runs / "t") == fingerprint(reference["root"])
    assert leftovers(runs / "t") == []
    assert all(stopped[s] for s in STAGES), f"never stopped in: {[s for s in STAGES if not stopped[s]]}"
    name = signal.Signals(signum).name
    found = counts.setdefault("signals", {})
    found[name] = sum(stopped[s] for s in STAGES)
    found.setdefault("points", Counter()).update({k[6:]: v for k, v in stopped.items() if k.startswith("point ")})


def test_srlm_run_prints_the_command_that_continues_it(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The real command: SIGTERM during SFT exits 143 and names `srlm run <config> <overrides>`."""
    import torch
    import yaml

    from srlm.cli import main
    from srlm.config import load_config, to_dict
    from srlm.stages import sft
    from tests.helpers.scripted import tiny_overrides

    monkeypatch.setattr(sft, "run", lambda *a, **k: os.kill(os.getpid(), signal.SIGTERM))
    config = tmp_path / "my run.yaml"
    config.write_text(yaml.safe_dump(to_dict(load_config(None, tiny_overrides(tiny_model_dir, tmp_path / "runs", "iterations=1")))))
    threads, before = torch.get_num_threads(), signal.getsignal(signal.SIGTERM)
    try:
        code = main(["run", str(config), "threads=1"])
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 143
    assert err.endswith(f"to continue the run: srlm run '{config}' threads=1"), err
    assert signal.getsignal(signal.SIGTERM) == before  # the handlers are put back
