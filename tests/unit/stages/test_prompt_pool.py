"""The fixed prompt pool (MR section 4.1) without a model: written once, sampled per iteration
without reuse, seeded, resumable; read from a file with clear errors for bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.backends.base import Sampling
from srlm.config import load_config
from srlm.data.prompt_pool import read_pool_file
from srlm.errors import UserError
from srlm.runtime.rundir import RunDir, read_rows
from srlm.stages import prompts
from srlm.stages.common import PipelineStop, StageContext
from tests.helpers.fakes import FakeBackend

SEEDS = [{"id": f"s{k}", "prompt": f"Seed task {k}: describe s{k}x s{k}y s{k}z", "response": "ok"} for k in range(4)]


class PromptWriter(FakeBackend):
    """Answers every few-shot request with a new prompt of its own words (no near-duplicates)."""

    def __init__(self) -> None:
        self.written = 0

    def generate(self, conversations, sampling: Sampling) -> list[list[str]]:
        out = []
        for _ in conversations:
            n = self.written = self.written + 1
            out.append([f"Explain w{n}a w{n}b w{n}c w{n}d to me"])
        return out


def _ctx(root: Path, t: int, backend: FakeBackend, *overrides: str) -> StageContext:
    config = load_config(None, ["prompt_gen.num_prompts=2", "prompt_gen.num_fewshot=2", *overrides])
    return StageContext(config=config, run=RunDir(root), iteration=t, backend_factory=lambda path, cfg: backend)


def test_the_pool_is_written_once_and_each_iteration_samples_unused_prompts(tmp_path: Path) -> None:
    writer = PromptWriter()
    taken = []
    for t in (1, 2, 3):
        rows = prompts.run(_ctx(tmp_path, t, writer, "prompt_gen.pool_size=6"), SEEDS)
        assert len(rows) == 2 and all(row["id"].startswith(f"it{t}-p") for row in rows)
        taken += [row["pool_id"] for row in rows]
        if t == 1:
            written = writer.written
    assert writer.written == written  # iterations 2 and 3 wrote nothing: they sampled the pool
    pool = read_rows(tmp_path / "prompt_pool" / "prompts.jsonl")
    assert len(pool) == 6 and sorted(taken) == sorted(row["id"] for row in pool)  # no prompt twice
    pool_stats = json.loads((tmp_path / "prompt_pool" / "stats.json").read_text())
    assert pool_stats["source"] == "generated" and pool_stats["kept"] == 6 and pool_stats["asked"] == 6
    third = json.loads((tmp_path / "iter3" / "stats.json").read_text())["prompts"]
    assert third == {"source": "pool", "pool_size": 6, "used_before": 4, "kept": 2, "short_by": 0, "left_after": 0, "dropped": {}}
    with pytest.raises(PipelineStop, match="used up"):
        prompts.run(_ctx(tmp_path, 4, writer, "prompt_gen.pool_size=6"), SEEDS)


def test_an_iterations_sample_is_the_same_after_a_restart(tmp_path: Path) -> None:
    writer = PromptWriter()
    for t in (1, 2):
        prompts.run(_ctx(tmp_path, t, writer, "prompt_gen.pool_size=6"), SEEDS)
    before = read_rows(tmp_path / "iter2" / "prompts.jsonl")
    (tmp_path / "iter2" / "prompts.jsonl").unlink()
    assert prompts.run(_ctx(tmp_path, 2, writer, "prompt_gen.pool_size=6"), SEEDS) == before
    other_seed = prompts.run(_ctx(tmp_path / "other", 1, PromptWriter(), "prompt_gen.pool_size=6", "seed=1"), SEEDS)
    assert [r["pool_id"] for r in other_seed] != [r["pool_id"] for r in read_rows(tmp_path / "iter1" / "prompts.jsonl")]


def test_a_pool_file_is_copied_in_and_sampled(tmp_path: Path) -> None:
    source = tmp_path / "pool.jsonl"
    source.write_text("\n".join(json.dumps({"prompt": p}) for p in ["One?", "Two?", "One?", "Three?"]) + "\n")
    writer = PromptWriter()
    run = tmp_path / "run"
    first = prompts.run(_ctx(run, 1, writer, f"prompt_gen.pool_file={source}"), SEEDS)
    second = prompts.run(_ctx(run, 2, writer, f"prompt_gen.pool_file={source}"), SEEDS)
    assert writer.written == 0 and len(first) == 2 and len(second) == 1
    assert {r["prompt"] for r in first + second} == {"One?", "Two?", "Three?"}
    assert json.loads((run / "prompt_pool" / "stats.json").read_text())["dropped"] == {"exact_duplicate": 1}
    assert json.loads((run / "iter2" / "stats.json").read_text())["prompts"]["short_by"] == 1


def test_fresh_prompts_each_iteration_stay_the_default(tmp_path: Path) -> None:
    rows = prompts.run(_ctx(tmp_path, 1, PromptWriter()), SEEDS)
    assert len(rows) == 2 and "pool_id" not in rows[0] and not (tmp_path / "prompt_pool").exists()


@pytest.mark.parametrize("text, message", [
    ('{"prompt": "ok"}\n{"text": "no prompt"}\n', r"pool.jsonl:2: missing field 'prompt' \(fields: text\)"),
    ('{"prompt": 3}\n', r"pool.jsonl:1: field 'prompt' must be a string, got int"),
    ('{"prompt": "  "}\n', r"pool.jsonl:1: field 'prompt' is empty"),
    ('{"prompt": "ok"\n', r"pool.jsonl:1: invalid JSON"),
    ('["ok"]\n', r"pool.jsonl:1: expected a JSON object"),
    ("\n\n", r"pool.jsonl: no prompts"),
])
def test_bad_pool_files_get_a_located_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_pool_file(path)


def test_a_missing_pool_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="missing.jsonl: file not found"):
        read_pool_file(tmp_path / "missing.jsonl")
