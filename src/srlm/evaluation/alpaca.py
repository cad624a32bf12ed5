"""AlpacaEval prompts: fetched once into the user's cache, written out in the official format.

The 805 AlpacaEval instructions, each with a reference output, ship inside the ``alpaca-eval``
source distribution on PyPI as ``example/outputs.json`` (generator ``"example"``; licence
CC BY-NC 4.0). ``fetch_alpaca_eval`` downloads that archive from the package index as a file
(nothing of the package is built or run) and copies out that one file into
``<srlm cache>/alpaca_eval/``; nothing else in the archive is unpacked and nothing is written
into the repository. These prompts are for evaluation only: ``data.sources.is_eval_only``
lets seed loaders refuse them.

The local win rate compares a model's outputs with those reference outputs using a configured
judge, in both orders. It is a cheap signal during development, not the published metric:
AlpacaEval 2.0 compares against GPT-4 Turbo's outputs with a GPT-4 Turbo annotator and reports
a length-controlled win rate (see docs/evaluation.md for scoring the same file officially).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

from srlm.data.sources import alpaca_cache
from srlm.errors import UserError
from srlm.runtime.rundir import write_text

log = logging.getLogger("srlm")

ALPACA_EVAL_VERSION = "0.6.6"
PROJECT = "alpaca-eval"
SDIST_NAME = f"alpaca_eval-{ALPACA_EVAL_VERSION}.tar.gz"
MEMBER = "example/outputs.json"  # inside the sdist's top-level folder
# PEP 691: ask for the JSON form of the simple API, accept its HTML form (PEP 503) too.
SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


def reference_path() -> Path:
    return alpaca_cache() / "outputs.json"


def fetch_alpaca_eval(cache: Path | None = None, transport: Any = None) -> Path:
    """The path of the reference outputs, downloading the sdist once if they are not cached.

    The archive is fetched as a file from the package index (PEP 691's JSON simple API, or its
    HTML page on mirrors that serve only that), checked against the index's sha256, and read
    with ``tarfile``: no build hook of the package runs (``pip download`` of an sdist prepares
    its metadata, which runs its ``setup.py``). The index is ``$PIP_INDEX_URL`` when set, so a
    mirror pip uses works too. ``transport`` is an ``httpx`` transport (tests serve a local
    archive). A failure is a ``UserError`` that says what to do.
    """
    cache = cache or alpaca_cache()
    target = cache / "outputs.json"
    if target.is_file():
        return target
    sdist = cache / "sdist" / SDIST_NAME
    if not sdist.is_file():
        log.info("downloading the alpaca-eval %s sdist once into %s", ALPACA_EVAL_VERSION, sdist.parent)
        download_sdist(sdist, transport)
    count = extract_outputs(sdist, target)
    log.info("AlpacaEval: %d instructions with reference outputs in %s", count, target)
    return target


def download_sdist(target: Path, transport: Any = None) -> None:
    """Download ``SDIST_NAME`` from the index into ``target``, verified against its sha256."""
    import httpx

    page = f"{index_url().rstrip('/')}/{PROJECT}/"
    try:
        with httpx.Client(transport=transport, timeout=60.0, follow_redirects=True) as client:
            url, sha256 = sdist_link(client.get(page, headers={"Accept": SIMPLE_ACCEPT}).raise_for_status(), page)
            data = client.get(url).raise_for_status().content
    except httpx.HTTPError as exc:
        raise UserError(f"alpaca_eval: cannot fetch {SDIST_NAME} from {page} ({exc}); AlpacaEval prompts need "
                        f"the package index once, or put {SDIST_NAME} in {target.parent}") from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise UserError(f"alpaca_eval: {url}: the download does not match the index's sha256 {sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.write_bytes(data)
    os.replace(partial, target)  # a file that exists is whole


def index_url() -> str:
    """The package index pip uses: ``$PIP_INDEX_URL``, else PyPI's simple API."""
    return os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"


def sdist_link(response: Any, page: str) -> tuple[str, str | None]:
    """(URL, sha256 or None) of ``SDIST_NAME`` on a simple-API project page (JSON or HTML)."""
    if "json" in response.headers.get("content-type", ""):
        for entry in response.json().get("files", []):
            if entry.get("filename") == SDIST_NAME:
                return urljoin(page, entry["url"]), entry.get("hashes", {}).get("sha256")
    else:
        for href, text in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]*)</a>', response.text):
            url, _, fragment = html.unescape(href).partition("#")
            if SDIST_NAME in (html.unescape(text).strip(), url.rsplit("/", 1)[-1]):
                return urljoin(page, url), fragment[len("sha256="):] if fragment.startswith("sha256=") else None
    raise UserError(f"alpaca_eval: {page} lists no {SDIST_NAME}; AlpacaEval prompts need it once, or put it in <cache>/alpaca_eval/sdist/")


def extract_outputs(sdist: Path, target: Path) -> int:
    """Copy ``<top>/example/outputs.json`` out of ``sdist`` to ``target``; returns its row count.

    Only that member is read (as bytes, never extracted by name), so the archive's paths cannot
    write anywhere; the rows are checked before ``target`` is written.
    """
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            member = _outputs_member(archive, sdist)
            handle = archive.extractfile(member)
            data = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{sdist}: not a readable .tar.gz ({exc})") from None
    rows = parse_outputs(data, f"{sdist}:{MEMBER}")
    write_text(target, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return len(rows)


def _outputs_member(archive: tarfile.TarFile, sdist: Path) -> tarfile.TarInfo:
    for member in archive.getmembers():
        parts = PurePosixPath(member.name).parts
        if len(parts) == 3 and "/".join(parts[1:]) == MEMBER and member.isfile():
            return member
    raise UserError(f"{sdist}: has no {MEMBER} (is it the alpaca-eval {ALPACA_EVAL_VERSION} sdist?)")


def parse_outputs(data: bytes, where: str) -> list[dict]:
    """Rows of an AlpacaEval-format file: a JSON list of objects with string "instruction" and
    "output" (other keys kept); errors name ``where`` and the entry."""
    try:
        rows = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{where}: not a UTF-8 JSON file ({exc})") from None
    if not isinstance(rows, list):
        raise UserError(f"{where}: expected a JSON list of {{\"instruction\", \"output\"}} objects")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"{where}: entry {index}: expected an object")
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str):
                raise UserError(f"{where}: entry {index}: key '{key}' must be a string")
    return rows


def load_outputs(path: str | Path) -> list[dict]:
    """An AlpacaEval-format outputs file (what ``srlm alpaca generate`` writes)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    return parse_outputs(path.read_bytes(), str(path))


def reference_outputs() -> list[dict]:
    """The 805 instructions with their reference outputs (fetched on first use)."""
    return load_outputs(fetch_alpaca_eval())


def alpaca_prompts() -> list[dict]:
    """The AlpacaEval instructions as prompt rows ``{"id", "prompt", "dataset"}``."""
    return [{"id": f"alpaca-{i}", "prompt": row["instruction"], "dataset": row.get("dataset", "")}
            for i, row in enumerate(reference_outputs())]


def generator_name(ref: Any) -> str:
    """The ``generator`` of an outputs file: ``<run>-M<t>`` for a run's model (``M3`` alone would
    collide between runs on AlpacaEval's leaderboard files), else the model's label."""
    path = Path(ref.path).resolve()
    if path.name == "model" and path.parent.name[:1] == "M" and path.parent.name[1:].isdigit() and (path.parent.parent / "config.yaml").is_file():
        return f"{path.parent.parent.name}-{path.parent.name}"
    return str(ref.label)


def answer_token_limit(model_path: Path, prompts: list[dict], requested: int, trust_remote_code: bool = False) -> int:
    """``requested`` new tokens, cut to what the model's context leaves after the longest prompt."""
    from srlm.runtime.models import load_tokenizer

    config_path = Path(model_path) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    context = config.get("max_position_embeddings")
    if not isinstance(context, int) or not prompts:
        return requested
    tokenizer = load_tokenizer(str(model_path), trust_remote_code)
    longest = max(len(tokenizer.apply_chat_template([{"role": "user", "content": p["prompt"]}], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]) for p in prompts)
    if longest >= context:
        raise UserError(f"{model_path}: an AlpacaEval prompt of {longest} tokens fills the model's {context}-token context")
    limit = min(requested, context - longest)
    if limit < requested:
        log.info("AlpacaEval answers: at most %d new tokens (the %d-token context minus the longest prompt, %d tokens)", limit, context, longest)
    return limit


def official_rows(prompts: list[dict], answers: dict[str, str], generator: str) -> list[dict]:
    """Rows the ``alpaca_eval`` command reads: instruction, output, generator (and dataset).

    >>> official_rows([{"id": "p", "prompt": "Hi?", "dataset": "oasst"}], {"p": "Hello."}, "M3")
    [{'instruction': 'Hi?', 'output': 'Hello.', 'generator': 'M3', 'dataset': 'oasst'}]
    """
    rows = []
    for prompt in prompts:
        row = {"instruction": prompt["prompt"], "output": answers[prompt["id"]], "generator": generator}
        if prompt.get("dataset"):
            row["dataset"] = prompt["dataset"]
        rows.append(row)
    return rows


def pair_with_reference(outputs: list[dict], reference: list[dict], where: str) -> list[dict]:
    """Head-to-head items: the model's output as A, the reference output as B (by instruction).

    >>> pair_with_reference([{"instruction": "Q", "output": "mine"}], [{"instruction": "Q", "output": "ref"}], "f")
    [{'id': 'alpaca-0', 'prompt': 'Q', 'answer_a': 'mine', 'answer_b': 'ref'}]
    """
    by_instruction = {row["instruction"]: (i, row["output"]) for i, row in enumerate(reference)}
    items, seen = [], set()
    for index, row in enumerate(outputs):
        if row["instruction"] not in by_instruction:
            raise UserError(f"{where}: entry {index}: instruction is not one of AlpacaEval's {len(reference)} ({row['instruction'][:60]!r})")
        if row["instruction"] in seen:
            raise UserError(f"{where}: entry {index}: the same instruction appears twice")
        seen.add(row["instruction"])
        ref_index, ref_output = by_instruction[row["instruction"]]
        items.append({"id": f"alpaca-{ref_index}", "prompt": row["instruction"], "answer_a": row["output"], "answer_b": ref_output})
    return items
