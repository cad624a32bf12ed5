"""Config: defaults < YAML file < command-line overrides; clear errors naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from srlm.config import Config, describe, for_iteration, load_config, rho_for
from srlm.errors import UserError


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_paper() -> None:
    config = load_config(None)
    assert config.candidates.n == 4 and config.judge.samples == 3 and config.dpo.beta == 0.1
    assert (config.prompt_gen.num_fewshot, config.prompt_gen.temperature, config.prompt_gen.top_p) == (8, 0.6, 0.9)
    assert (config.candidates.temperature, config.candidates.top_p) == (0.7, 0.9)
    assert config.trust_remote_code is False


def test_override_beats_file_beats_default(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "dpo:\n  beta: 0.2\n  learning_rate: 1e-6\ncandidates:\n  n: 6\n")
    config = load_config(path, ["dpo.beta=0.3"])
    assert config.dpo.beta == 0.3  # override
    assert config.candidates.n == 6  # file
    assert config.judge.samples == 3  # default
    assert config.dpo.learning_rate == 1e-6  # YAML 1.1 reads 1e-6 as a string; accepted as a number


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("dpo:\n  betta: 0.1\n", [], "unknown config key 'dpo.betta'"),
        ("", ["nope=1"], "unknown config key 'nope'"),
        ("candidates:\n  n: four\n", [], "'candidates.n': expected int"),
        ("candidates:\n  n: 1\n", [], "'candidates.n'"),
        ("dpo:\n  beta: 0\n", [], "'dpo.beta'"),
        ("dpo:\n  beta: -0.5\n", [], "'dpo.beta'"),
        ("judge:\n  samples: 0\n", [], "'judge.samples'"),
        ("method: reinforce\n", [], "'method'"),
        ("pairs:\n  length_rho: 1.5\n", [], "'pairs.length_rho'"),
        ("dpo:\n  batch_size: 5\n  micro_batch_size: 2\n", [], "'dpo.batch_size'"),
        ("name: ../escape\n", [], "'name'"),
        ("candidates: 3\n", [], "'candidates': expected a mapping"),
        ("trust_remote_code: yes please\n", [], "'trust_remote_code': expected bool"),
        ("", ["dpo.beta"], "expected key=value"),
        ("iteration_overrides:\n  first: {}\n", [], "iteration_overrides.first"),
        ("judge:\n  scoring: logits\n", [], "'judge.scoring'"),
        ("judge:\n  scoring: expected\nbackend:\n  kind: openai\n", [], "'judge.scoring'"),
        ("eval:\n  win_rate_method: vibes\n", [], "'eval.win_rate_method'"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(_yaml(tmp_path, text), overrides)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(UserError, match=r"c\.yaml:\d+: invalid YAML"):
        load_config(_yaml(tmp_path, "a: 1\nb: [unclosed\nc: 2\n"))
    with pytest.raises(UserError, match="mapping of config keys"):
        load_config(_yaml(tmp_path, "- 1\n- 2\n"))


def test_iteration_overrides_merge_and_validate(tmp_path: Path) -> None:
    config = load_config(_yaml(tmp_path, "iteration_overrides:\n  2:\n    prompt_gen:\n      num_prompts: 99\n"))
    assert for_iteration(config, 1).prompt_gen.num_prompts == 64
    assert for_iteration(config, 2).prompt_gen.num_prompts == 99
    assert for_iteration(config, 2).prompt_gen.temperature == 0.6
    with pytest.raises(UserError, match="iteration_overrides.2"):  # refused at load, not at iteration 2
        load_config(_yaml(tmp_path, "iteration_overrides:\n  2:\n    dpo:\n      beta: -1\n"))


def test_rho_per_iteration_repeats_the_last() -> None:
    config = load_config(None, ["pairs.length_rho=[0, 0.32, 0.4]"])
    assert [rho_for(config, t) for t in (1, 2, 3, 4)] == [0.0, 0.32, 0.4, 0.4]
    assert rho_for(load_config(None, ["pairs.length_rho=0.2"]), 3) == 0.2


def test_every_field_has_help() -> None:
    rows = describe(Config)
    assert len(rows) > 60
    assert all(help_text for _, _, help_text in rows)


def test_shipped_configs_validate() -> None:
    root = Path(__file__).parents[2] / "configs"
    for path in sorted(root.glob("*.yaml")):
        load_config(path)


def test_sft_ift_switch_defaults_to_the_self_rewarding_recipe() -> None:
    assert load_config(None).data.sft_ift is True
    meta = Path(__file__).parents[2] / "configs" / "meta_llama3_8b.yaml"
    assert load_config(meta).data.sft_ift is False  # MR: SFT on EFT only


def test_scheduler_choices_are_transformers_own() -> None:
    from transformers.trainer_utils import SchedulerType

    from srlm.config import SCHEDULERS

    assert set(SCHEDULERS) == {s.value for s in SchedulerType}


@pytest.mark.parametrize("override, fragment", [
    ("dpo.lr_scheduler=cosin", "did you mean 'cosine'?"),
    ("sft.lr_scheduler=linearr", "did you mean 'linear'?"),
    ("eval.win_rate_method=pairwize", "did you mean 'pairwise'?"),
    ("backend.kind=vlm", "did you mean 'vllm'?"),
])
def test_a_near_miss_of_a_choice_names_the_closest(override: str, fragment: str) -> None:
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_config(None, [override])
