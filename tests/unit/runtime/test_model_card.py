"""The model card's base model and license, known offline: embedded name, cached repo id, cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.runtime.model_card import base_model_info
from tests.unit.runtime.test_models import _cache_repo, hub_cache  # noqa: F401 (fixture)


def test_the_embedded_model_is_smollm2_under_apache_2() -> None:
    assert base_model_info("smollm2-135m-instruct") == ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")


def test_a_cached_repo_gives_its_id_and_the_license_of_its_own_card(hub_cache: Path, tmp_path: Path) -> None:  # noqa: F811
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}")
    (source / "README.md").write_text("---\nlicense: mit\n---\n# A model\n")
    snapshot = _cache_repo(hub_cache, "org/Name-2.5-0.5B", source)
    assert base_model_info("org/Name-2.5-0.5B") == ("org/Name-2.5-0.5B", "mit")
    assert base_model_info(str(snapshot)) == ("org/Name-2.5-0.5B", "mit")


@pytest.mark.parametrize("card", [None, "no metadata at all\n"])
def test_a_local_folder_without_a_license_gives_none_rather_than_a_guess(tmp_path: Path, card: str | None) -> None:
    (tmp_path / "config.json").write_text("{}")
    if card is not None:
        (tmp_path / "README.md").write_text(card)
    assert base_model_info(str(tmp_path)) == (None, None)


@pytest.mark.parametrize("argv, expected", [
    (["/venv/bin/srlm", "run", "configs/tiny.yaml", "dpo.beta=0.2"], "srlm run configs/tiny.yaml dpo.beta=0.2"),
    (["/x/src/srlm/__main__.py", "run", "my config.yaml"], "srlm run 'my config.yaml'"),
    (["/venv/bin/pytest", "-q"], None),
])
def test_the_command_is_the_srlm_command_line_only(monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str | None) -> None:
    from srlm.runtime.model_card import invoked_command

    monkeypatch.setattr("sys.argv", argv)
    assert invoked_command() == expected
