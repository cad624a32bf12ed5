"""End-to-end on the real embedded SmolLM2-135M-Instruct, with very small sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from srlm.runtime.models import embedded_model_dir, load_model, load_tokenizer
from srlm.runtime.rundir import model_done, read_rows

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def embedded() -> Path:
    return embedded_model_dir()


def test_embedded_model_answers_a_question(embedded: Path) -> None:
    from srlm.backends.base import Sampling
    from srlm.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(load_model(str(embedded)), load_tokenizer(str(embedded)))
    [[text]] = backend.generate([[{"role": "user", "content": "What is the capital of France?"}]], Sampling(temperature=0, max_new_tokens=20))
    assert "Paris" in text


def test_sft_then_one_iteration_on_the_embedded_model(embedded: Path, tmp_path: Path) -> None:
    """M1 by SFT on a few rows, then prompts, candidates and real judging by M1 itself."""
    overrides = [
        f"runs_dir={tmp_path}", "name=e2e", "iterations=1",
        "data.max_ift=8", "data.max_eft=4", "sft.batch_size=4", "sft.micro_batch_size=2", "sft.max_length=512",
        "prompt_gen.num_prompts=2", "prompt_gen.max_new_tokens=32", "candidates.n=2", "candidates.max_new_tokens=24",
        "judge.samples=1", "judge.max_new_tokens=24", "eval.max_heldout=1", "eval.judge_metrics=true",
        "dpo.batch_size=2", "dpo.micro_batch_size=1", "dpo.max_length=256",
    ]
    config = load_config(Path(__file__).parents[2] / "configs" / "tiny.yaml", overrides)
    try:
        run = pipeline.run(config)
    except pipeline.PipelineStop:
        # Real judging by a barely trained 135M model may give no usable pair on 2 prompts;
        # the stop itself is the documented behaviour, and the files before it must exist.
        run = pipeline.run_dir_for(str(tmp_path), "e2e")
        assert not model_done(run.model(2))
    assert model_done(run.model(1)) and (run.model(1) / "model.safetensors").is_file()
    assert json.loads(run.eval(1).read_text())["judge"]["n_responses"] > 0
    judged = read_rows(run.iteration(1) / "judgments.jsonl")
    assert len(judged) == 4 and all(len(row["judgments"]) == 1 for row in judged)
    stats = json.loads((run.iteration(1) / "stats.json").read_text())
    assert stats["judgments"]["parsed"] + stats["judgments"]["unparsed"] == 4
