"""Model names resolve as ``from_pretrained`` resolves them, from local files only."""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest

from srlm.errors import UserError
from srlm.runtime.models import locate_model, resolve_model


def _cache_repo(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay ``source`` out as the local Hugging Face cache holds a downloaded ``repo_id``."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / ("a" * 40)
    shutil.copytree(source, snapshot)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("a" * 40)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.mark.parametrize("repo_id", ["Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "gpt2"])
def test_a_cached_repo_id_resolves_dots_and_all(hub_cache: Path, tiny_model_dir: Path, repo_id: str) -> None:
    snapshot = _cache_repo(hub_cache, repo_id, tiny_model_dir)
    assert Path(resolve_model(repo_id)) == snapshot
    assert Path(locate_model(repo_id)) == snapshot


def test_a_repo_id_that_is_not_cached_is_refused_without_a_download(hub_cache: Path) -> None:
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        resolve_model("Qwen/Qwen2.5-0.5B-Instruct")


@pytest.mark.parametrize("spec", ["./no/such/model", "runs/tiny/M2/model", "~/nowhere/model"])
def test_a_path_that_does_not_exist_is_named_as_a_missing_directory(hub_cache: Path, spec: str) -> None:
    with pytest.raises(UserError, match="no such model directory"):
        resolve_model(spec)


def test_a_local_directory_comes_first(hub_cache: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "work" / "org" / "name.v2"
    shutil.copytree(tiny_model_dir, local)
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_model("org/name.v2") == "org/name.v2"  # a directory of that name wins over the Hub id


def test_a_directory_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="has no config.json"):
        resolve_model(str(tmp_path))
