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
