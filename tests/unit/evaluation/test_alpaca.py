"""AlpacaEval: extraction from a fake sdist built here (no network), output format, pairing."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from srlm.data import sources
from srlm.errors import UserError
from srlm.evaluation import alpaca
from srlm.evaluation.compare import load_prompts

REFERENCE = [
    {"instruction": "Name three primary colours.", "output": "Red, yellow and blue.", "generator": "example", "dataset": "helpful_base", "datasplit": "eval"},
    {"instruction": "What is 2 + 2?", "output": "4.", "generator": "example", "dataset": "selfinstruct", "datasplit": "eval"},
]


def make_sdist(path: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz holding ``members`` (name -> bytes), like an sdist."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _sdist(tmp_path: Path, outputs: object = REFERENCE, **extra: bytes) -> Path:
    top = f"alpaca_eval-{alpaca.ALPACA_EVAL_VERSION}"
    members = {f"{top}/setup.py": b"raise SystemExit", f"{top}/example/outputs.json": json.dumps(outputs).encode(), **extra}
    return make_sdist(tmp_path / alpaca.SDIST_NAME, members)


def test_extract_reads_only_the_outputs_file(tmp_path: Path) -> None:
    evil = {"../../escaped.txt": b"x", "/abs.txt": b"y"}
    sdist = _sdist(tmp_path, **evil)
    target = tmp_path / "cache" / "outputs.json"
    assert alpaca.extract_outputs(sdist, target) == 2
    assert json.loads(target.read_text()) == REFERENCE
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["outputs.json"]
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_extract_refuses_a_wrong_archive(tmp_path: Path) -> None:
    no_member = make_sdist(tmp_path / "a.tar.gz", {"pkg/README": b"hi"})
    with pytest.raises(UserError, match="has no example/outputs.json"):
        alpaca.extract_outputs(no_member, tmp_path / "o.json")
    bad_rows = _sdist(tmp_path, outputs=[{"instruction": "q"}])
    with pytest.raises(UserError, match="entry 0: key 'output'"):
        alpaca.extract_outputs(bad_rows, tmp_path / "o.json")
    garbage = tmp_path / "g.tar.gz"
    garbage.write_bytes(b"not gzip")
    with pytest.raises(UserError, match="not a readable"):
        alpaca.extract_outputs(garbage, tmp_path / "o.json")


def test_fetch_runs_pip_download_once_into_the_cache(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(command)
        _sdist(Path(command[command.index("-d") + 1]))
        return subprocess.CompletedProcess(command, 0, "", "")

    cache = tmp_path / "alpaca_eval"
    path = alpaca.fetch_alpaca_eval(cache, runner=fake_pip)
    assert path == cache / "outputs.json" and len(json.loads(path.read_text())) == 2
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "alpaca-eval==0.6.6", "-d", str(cache / "sdist")]
    alpaca.fetch_alpaca_eval(cache, runner=fake_pip)
    assert len(calls) == 1  # cached


def test_fetch_failure_is_a_user_error(tmp_path: Path) -> None:
    def offline(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version\n")

    with pytest.raises(UserError, match="Could not find a version"):
        alpaca.fetch_alpaca_eval(tmp_path / "c", runner=offline)


@pytest.fixture
def cached_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "srlm-cache"))
    alpaca.extract_outputs(_sdist(tmp_path), alpaca.reference_path())
    return alpaca.reference_path()


def test_prompts_by_name_and_eval_only_guard(cached_reference: Path, tmp_path: Path) -> None:
    prompts = load_prompts("alpaca_eval")
    assert [p["id"] for p in prompts] == ["alpaca-0", "alpaca-1"] and prompts[1]["prompt"] == "What is 2 + 2?"
    assert load_prompts("alpaca_eval", limit=1) == prompts[:1]
    assert sources.is_eval_only(cached_reference)
    assert not sources.is_eval_only(tmp_path / "ift.jsonl")


def test_official_rows_and_pairing(cached_reference: Path) -> None:
    prompts = alpaca.alpaca_prompts()
    rows = alpaca.official_rows(prompts, {"alpaca-0": "Blue.", "alpaca-1": "Five."}, "M3")
    assert rows[0] == {"instruction": "Name three primary colours.", "output": "Blue.", "generator": "M3", "dataset": "helpful_base"}
    items = alpaca.pair_with_reference(rows[::-1], alpaca.reference_outputs(), "out.json")
    assert items[0] == {"id": "alpaca-1", "prompt": "What is 2 + 2?", "answer_a": "Five.", "answer_b": "4."}
    with pytest.raises(UserError, match="entry 0: instruction is not one of"):
        alpaca.pair_with_reference([{"instruction": "other", "output": "x"}], REFERENCE, "out.json")
    with pytest.raises(UserError, match="entry 1: the same instruction appears twice"):
        alpaca.pair_with_reference(rows[:1] * 2, REFERENCE, "out.json")


def test_prompt_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a"}\n\n{"instruction": "b", "id": "x"}\n')
    assert [(p["id"], p["prompt"]) for p in load_prompts(str(jsonl))] == [("p-1", "a"), ("x", "b")]
    listed = tmp_path / "p.json"
    listed.write_text(json.dumps(REFERENCE))
    assert load_prompts(str(listed))[0]["prompt"] == REFERENCE[0]["instruction"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"text": "b"}\n')
    with pytest.raises(UserError, match="bad.jsonl:2: key 'prompt'"):
        load_prompts(str(bad))
    with pytest.raises(UserError, match="not found"):
        load_prompts(str(tmp_path / "none.jsonl"))


def test_seed_data_refuses_alpaca_eval_files(cached_reference: Path, tmp_path: Path) -> None:
    from srlm.config import load_config
    from srlm.runtime.rundir import RunDir
    from srlm.stages import seed_data

    config = load_config(None, [f"data.ift={cached_reference}"])
    with pytest.raises(UserError, match="AlpacaEval evaluation data"):
        seed_data.run(config, RunDir(tmp_path / "run"))
    assert not (tmp_path / "run").exists()
