"""AlpacaEval: extraction from a fake sdist built here (no network), output format, pairing."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import httpx
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


def _index(sdist: bytes, json_api: bool = True, sha256: str | None = None, seen: list | None = None) -> httpx.MockTransport:
    """A package index on a mock transport: the project page (JSON or HTML) and the archive."""
    digest = sha256 or hashlib.sha256(sdist).hexdigest()

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        if request.url.path == "/simple/alpaca-eval/":
            if json_api:
                files = [{"filename": "alpaca_eval-0.6.5.tar.gz", "url": "../../files/old.tar.gz", "hashes": {}},
                         {"filename": alpaca.SDIST_NAME, "url": "../../files/new.tar.gz", "hashes": {"sha256": digest}}]
                return httpx.Response(200, json={"meta": {"api-version": "1.0"}, "name": "alpaca-eval", "files": files},
                                      headers={"content-type": "application/vnd.pypi.simple.v1+json"})
            page = f'<html><body><a href="../../files/new.tar.gz#sha256={digest}">{alpaca.SDIST_NAME}</a></body></html>'
            return httpx.Response(200, text=page, headers={"content-type": "text/html"})
        if request.url.path == "/files/new.tar.gz":
            return httpx.Response(200, content=sdist)
        return httpx.Response(404)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("json_api", [True, False])
def test_fetch_downloads_the_sdist_once_as_a_file_and_runs_nothing_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_api: bool) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.example/simple")
    archive = _sdist(tmp_path).read_bytes()  # its setup.py raises SystemExit if anything ran it
    seen: list[str] = []
    cache = tmp_path / "alpaca_eval"
    path = alpaca.fetch_alpaca_eval(cache, transport=_index(archive, json_api, seen=seen))
    assert path == cache / "outputs.json" and json.loads(path.read_text()) == REFERENCE
    assert seen == ["https://index.example/simple/alpaca-eval/", "https://index.example/files/new.tar.gz"]
    assert (cache / "sdist" / alpaca.SDIST_NAME).read_bytes() == archive
    alpaca.fetch_alpaca_eval(cache, transport=_index(archive, seen=seen))
    assert len(seen) == 2  # cached


def test_fetch_refuses_an_archive_whose_hash_differs_and_says_what_to_do_offline(tmp_path: Path) -> None:
    archive = _sdist(tmp_path).read_bytes()
    with pytest.raises(UserError, match="does not match the index's sha256"):
        alpaca.fetch_alpaca_eval(tmp_path / "c", transport=_index(archive, sha256="0" * 64))
    assert not (tmp_path / "c" / "sdist" / alpaca.SDIST_NAME).exists()

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    with pytest.raises(UserError, match=f"no route to host.*put {alpaca.SDIST_NAME} in"):
        alpaca.fetch_alpaca_eval(tmp_path / "d", transport=httpx.MockTransport(offline))


def test_fetch_uses_an_archive_put_in_the_cache_by_hand(tmp_path: Path) -> None:
    cache = tmp_path / "alpaca_eval"
    (cache / "sdist").mkdir(parents=True)
    _sdist(cache / "sdist")

    def nothing(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no network access expected")

    assert len(json.loads(alpaca.fetch_alpaca_eval(cache, transport=httpx.MockTransport(nothing)).read_text())) == 2


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


def test_generator_names_a_run_model_with_its_run(tmp_path: Path) -> None:
    from srlm.evaluation.judges import ModelRef

    model = tmp_path / "runs" / "tiny" / "M3" / "model"
    model.mkdir(parents=True)
    (tmp_path / "runs" / "tiny" / "config.yaml").write_text("name: tiny\n")
    assert alpaca.generator_name(ModelRef("M3", model, "runs/tiny/M3")) == "tiny-M3"
    plain = tmp_path / "my-model"
    plain.mkdir()
    assert alpaca.generator_name(ModelRef("my-model", plain, str(plain))) == "my-model"


def test_answer_limit_is_cut_to_what_the_context_leaves(tiny_model_dir: Path) -> None:
    from srlm.runtime.models import load_tokenizer

    prompts = [{"id": "a", "prompt": "Hi"}, {"id": "b", "prompt": "Explain why the sky is blue. " * 20}]
    tokenizer = load_tokenizer(str(tiny_model_dir))
    longest = len(tokenizer.apply_chat_template([{"role": "user", "content": prompts[1]["prompt"]}], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
    context = json.loads((tiny_model_dir / "config.json").read_text())["max_position_embeddings"]
    assert alpaca.answer_token_limit(tiny_model_dir, prompts, 2048) == context - longest < 2048
    assert alpaca.answer_token_limit(tiny_model_dir, prompts, 100) == 100
    with pytest.raises(UserError, match="fills the model's"):
        alpaca.answer_token_limit(tiny_model_dir, [{"id": "c", "prompt": "sky blue " * 3000}], 10)
