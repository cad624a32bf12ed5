"""Judge specs and the resumable work files of evaluation commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.errors import UserError
from srlm.evaluation.judges import parse_openai_spec, work_file


def test_openai_spec() -> None:
    assert parse_openai_spec("openai:gpt-4o@http://127.0.0.1:8000/v1") == ("gpt-4o", "http://127.0.0.1:8000/v1")
    assert parse_openai_spec("openai:org/model@name@https://h/v1") == ("org/model@name", "https://h/v1")
    assert parse_openai_spec("models/m1") is None
    with pytest.raises(UserError, match="openai:<model_name>@<base_url>"):
        parse_openai_spec("openai:gpt-4o")


def test_work_file_changes_with_identity(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert work_file(out, "x", 1, "a") == work_file(out, "x", 1, "a")
    assert work_file(out, "x", 1, "a") != work_file(out, "x", 1, "b")
    assert work_file(out, "x", 1).parent == tmp_path / "r.work"
