"""The pipeline's pre-flight checks and its one tuple of stages (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from srlm.errors import UserError


def test_the_iteration_stages_run_in_the_order_of_the_method() -> None:
    names = [stage.name for stage in pipeline.ITERATION_STAGES]
    assert names == ["prompts", "candidates", "judgments", "pairs", "meta_judgments", "train"]
    assert [s.name for s in pipeline.ITERATION_STAGES if s.only_for] == ["meta_judgments"]


def test_preflight_checks_every_model_seed_file_and_template(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = load_config(None, [f"model={tiny_model_dir}", "method=meta_rewarding"])
    done = pipeline.preflight(config)
    assert done[0] == f"model {tiny_model_dir}: {tiny_model_dir}"
    assert any(line.startswith("data.ift builtin:ift_seed:") for line in done)
    assert any(line.startswith("meta.template meta_judge:") for line in done)


def test_preflight_names_a_missing_prompt_writer(tiny_model_dir: Path) -> None:
    config = load_config(None, [f"model={tiny_model_dir}", "prompt_gen.generator=./no/writer"])
    with pytest.raises(UserError, match="no/writer"):
        pipeline.preflight(config)


def test_a_run_directory_as_win_rate_judge_is_left_to_the_evaluation(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "other_run"
    run.mkdir()
    (run / "config.yaml").write_text("name: other_run\n")
    config = load_config(None, [f"model={tiny_model_dir}", "eval.win_rate_prompts=2", f"eval.win_rate_judge={run}"])
    assert not any(line.startswith("eval.win_rate_judge") for line in pipeline.preflight(config))
    missing = load_config(None, [f"model={tiny_model_dir}", "eval.win_rate_prompts=2", "eval.win_rate_judge=./no/judge"])
    with pytest.raises(UserError, match="no/judge"):
        pipeline.preflight(missing)


def test_the_summary_line_skips_a_judge_accuracy_no_pair_could_give(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A run whose final judge evaluation had no rankable pair writes pairwise_accuracy: null.
    from types import SimpleNamespace

    from srlm.runtime.rundir import RunDir

    run_dir = RunDir(tmp_path)
    run_dir.eval(2).parent.mkdir(parents=True)
    run_dir.eval(2).write_text('{"judge": {"pairwise_accuracy": null}}')
    with caplog.at_level("INFO", logger="srlm.console"):
        pipeline._summary(SimpleNamespace(iterations=1), run_dir, 12.0, 0)
    assert "final model M2" in caplog.text and "pairwise" not in caplog.text
