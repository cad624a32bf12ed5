"""``judge.kind``: function judges, spec checks, scalar rows, the seed prompt source (no model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from srlm.config import load_config
from srlm.errors import UserError
from srlm.judging import kinds
from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts
from srlm.runtime.rundir import RunDir, RowLog, write_rows
from srlm.stages import judgments, prompts
from srlm.stages.common import StageContext
from tests.helpers.fakes import FakeBackend

CANDIDATES = [
    {"id": "p0-c0", "prompt_id": "p0", "prompt": "Name a colour.", "response": "Blue is a colour."},
    {"id": "p0-c1", "prompt_id": "p0", "prompt": "Name a colour.", "response": "I do not know."},
    {"id": "p1-c0", "prompt_id": "p1", "prompt": "No reference here.", "response": "Anything."},
]


class NoModel(FakeBackend):
    """A backend that must not be asked: a scalar judge never loads M(t)."""

    def generate(self, conversations, sampling):  # type: ignore[no-untyped-def]
        raise AssertionError("a scalar judge generated text")


@pytest.fixture
def judge_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module made in the test with judge functions, importable as ``test_judges_mod``."""
    (tmp_path / "test_judges_mod.py").write_text(
        "CALLS = []\n"
        "def overlap(prompt, response, reference):\n"
        "    CALLS.append(response)\n"
        "    if reference is None:\n"
        "        return None\n"
        "    return 5.0 * len(set(response.split()) & set(reference.split())) / len(set(reference.split()))\n"
        "def two_args(prompt, response):\n"
        "    return 1.0\n"
        "def text_score(prompt, response, reference):\n"
        "    return 'high'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("test_judges_mod", None)
    return "test_judges_mod"


def context(tmp_path: Path, *overrides: str) -> StageContext:
    config = load_config(None, ["judge.scoring=text", *overrides])
    run = RunDir(tmp_path / "run")
    write_rows(run.data / "ift.jsonl", [{"id": "s1", "prompt": "Name a colour.", "response": "Blue is a colour of the sky."}])
    return StageContext(config=config, run=run, iteration=1, backend_factory=lambda model, cfg: NoModel())


def test_function_judge_writes_one_score_per_candidate_and_counts_unscored(tmp_path: Path, judge_module: str) -> None:
    ctx = context(tmp_path, "judge.kind=function", f"judge.spec={judge_module}:overlap")
    rows = judgments.run(ctx, CANDIDATES)
    assert [r["scores"] for r in rows] == [[pytest.approx(5.0 * 3 / 7)], [0.0], [None]]
    assert [r["mean_score"] for r in rows] == [pytest.approx(5.0 * 3 / 7), 0.0, None]
    assert all(r["judgments"] == [] for r in rows)
    stats = json.loads((tmp_path / "run" / "iter1" / "stats.json").read_text())["judgments"]
    assert (stats["judgments"], stats["parsed"], stats["unparsed"], stats["candidates_without_score"]) == (3, 2, 1, 1)
    assert stats["judge"] == f"function:{judge_module}:overlap"


def test_function_judge_resumes_without_scoring_again(tmp_path: Path, judge_module: str) -> None:
    ctx = context(tmp_path, "judge.kind=function", f"judge.spec={judge_module}:overlap", "backend.batch_size=2")
    judge = judgments.stage_judge(ctx)
    log = RowLog(ctx.path("judgments.jsonl"))
    judge.scalar(CANDIDATES[:0])  # loads the module
    module = sys.modules[judge_module]
    from srlm.judging.judge import judge_items

    judge_items(judge, CANDIDATES[:2], log, 1, 0.7, "first part")  # one chunk of two, as if killed after it
    assert len(module.CALLS) == 2
    judgments.run(ctx, CANDIDATES)  # resumes: only the missing chunk is scored
    assert len(module.CALLS) == 3


def test_a_function_returning_no_number_is_a_clear_error(tmp_path: Path, judge_module: str) -> None:
    ctx = context(tmp_path, "judge.kind=function", f"judge.spec={judge_module}:text_score")
    with pytest.raises(UserError, match="returned 'high' for p0-c0; a judge function returns a finite number or None"):
        judgments.run(ctx, CANDIDATES)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("{mod}:missing", "has no function 'missing'"),
        ("{mod}:two_args", r"must take \(prompt, response, reference\)"),
        ("not a spec", "is not 'package.module:function'"),
    ],
)
def test_bad_function_specs_are_refused(judge_module: str, spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        kinds.check_spec("function", spec.format(mod=judge_module))


def test_reward_model_check_reads_the_architecture(tmp_path: Path) -> None:
    def model_dir(name: str, **config: object) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        # A whole (if tiny) weights file: the checkpoint check reads its header before anything else.
        save_file({"score.weight": torch.zeros(1, 2)}, str(tmp_path / name / "model.safetensors"))
        return tmp_path / name

    ok = model_dir("rm", architectures=["LlamaForSequenceClassification"], num_labels=1)
    assert "one scalar output" in kinds.check_spec("reward_model", str(ok))
    with pytest.raises(UserError, match="LlamaForCausalLM, not a sequence-classification reward model"):
        kinds.check_spec("reward_model", str(model_dir("lm", architectures=["LlamaForCausalLM"])))
    with pytest.raises(UserError, match="has 2 outputs"):
        kinds.check_spec("reward_model", str(model_dir("cls", architectures=["BertForSequenceClassification"], id2label={"0": "a", "1": "b"})))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["judge.spec=x:y"], "only read when judge.kind is not 'self'"),
        (["judge.kind=function"], "required when judge.kind is 'function'"),
        (["judge.kind=function", "judge.spec=a:b", "method=meta_rewarding"], "writes no judgment text"),
        (["judge.kind=reward_model", "judge.spec=a", "judge.scoring=expected"], "does not give"),
        (["judge.kind=openai", "judge.spec=openai:m@http://x/v1", "judge.expected_score_fallback=true"], "judge.expected_score_fallback"),
        (["judge.kind=oracle"], "is not one of self, model, reward_model, openai, function"),
        (["prompt_gen.source=pool"], "is not one of generate, seed"),
    ],
)
def test_impossible_judge_settings_are_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_config(None, ["judge.scoring=text", *overrides])


def test_reward_score_is_monotone_on_the_judge_scale() -> None:
    values = [kinds.reward_score(r) for r in (-50.0, -2.0, 0.0, 0.5, 2.0, 50.0)]
    assert values == sorted(values) and values[2] == 2.5
    assert 0 <= values[0] < 0.01 and 4.99 < values[-1] <= 5


def test_a_scalar_judge_decides_the_additive_head_to_head(tmp_path: Path, judge_module: str) -> None:
    config = load_config(None, ["judge.scoring=text"])
    judge = kinds.fixed_judge("function", f"{judge_module}:overlap", config, lambda *a: 0, {"Name a colour.": "Blue is a colour."}, lambda p, c: NoModel())
    items = [{"id": "q0", "prompt": "Name a colour.", "answer_a": "Blue is a colour.", "answer_b": "Red."}]
    ab, ba, details = head_to_head_verdicts(judge, items, JudgeSettings.from_config(config, "additive"), tmp_path / "h2h.jsonl", "h2h")
    assert ab == ba == ["A"] and details[0]["score_a"] == 5.0


def seed_rows(n: int) -> list[dict]:
    return [{"id": f"s{k}", "prompt": f"Seed prompt number {k}?", "response": f"Answer {k}."} for k in range(n)]


def test_seed_prompt_source_draws_different_training_prompts_each_iteration(tmp_path: Path) -> None:
    config = load_config(None, ["prompt_gen.source=seed", "prompt_gen.num_prompts=4"])
    run = RunDir(tmp_path / "run")
    drawn = []
    for t in (1, 2, 3):
        ctx = StageContext(config=config, run=run, iteration=t, backend_factory=lambda model, cfg: NoModel())
        rows = prompts.run(ctx, seed_rows(10))
        assert [r["id"] for r in rows] == [f"it{t}-p{k:04d}" for k in range(4)]
        drawn.append([r["source_id"] for r in rows])
        assert prompts.run(ctx, seed_rows(10)) == rows  # the file is read back, the same
    assert len(set(drawn[0]) | set(drawn[1])) == 8  # no repeat while the pool lasts
    assert len(set(drawn[2]) & (set(drawn[0]) | set(drawn[1]))) == 2  # 12 > 10: wraps around
    stats = json.loads((run.iteration(3) / "stats.json").read_text())["prompts"]
    assert stats == {"source": "seed", "pool": 10, "kept": 4, "repeated_from_earlier_iterations": 2}


def test_evaluation_judge_specs_take_the_scalar_kinds(judge_module: str) -> None:
    from srlm.evaluation.judges import judge_context

    config = load_config(None, ["judge.scoring=text"])
    judge = judge_context(f"function:{judge_module}:overlap", config, references={"q": "a b"})
    assert judge.label == f"function:{judge_module}:overlap"
    assert judge.scalar([{"id": "x", "prompt_id": "p", "prompt": "q", "response": "a"}]) == [2.5]


def test_the_run_head_to_head_gives_a_function_judge_the_held_out_references(tmp_path: Path, judge_module: str) -> None:
    from srlm.evaluation import win_rate

    ctx = context(tmp_path, f"eval.win_rate_judge=function:{judge_module}:overlap", "eval.win_rate_method=additive", "eval.win_rate_prompts=1")
    write_rows(ctx.run.data / "ift_heldout.jsonl", [{"id": "h1", "prompt": "Held out?", "response": "yes indeed"}])
    from types import SimpleNamespace

    judge = win_rate._judge(ctx, m1=SimpleNamespace(seed=lambda *chunk: 0))  # type: ignore[arg-type]
    assert judge.scalar([{"id": "x", "prompt_id": "h1", "prompt": "Held out?", "response": "yes"}]) == [2.5]
