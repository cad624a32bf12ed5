"""AlpacaEval prompts: fetched once into the user's cache, written out in the official format.

The 805 AlpacaEval instructions, each with a reference output, ship inside the ``alpaca-eval``
source distribution on PyPI as ``example/outputs.json`` (generator ``"example"``; licence
CC BY-NC 4.0). ``fetch_alpaca_eval`` downloads that sdist with pip and copies out that one file
into ``<srlm cache>/alpaca_eval/``; nothing else in the archive is unpacked and nothing is
written into the repository. These prompts are for evaluation only: ``data.sources.is_eval_only``
lets seed loaders refuse them.

The local win rate compares a model's outputs with those reference outputs using a configured
judge, in both orders. It is a cheap signal during development, not the published metric:
AlpacaEval 2.0 compares against GPT-4 Turbo's outputs with a GPT-4 Turbo annotator and reports
a length-controlled win rate (see docs/evaluation.md for scoring the same file officially).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from srlm.data.sources import alpaca_cache
from srlm.errors import UserError
from srlm.runtime.rundir import write_text

log = logging.getLogger("srlm")

ALPACA_EVAL_VERSION = "0.6.6"
SDIST_NAME = f"alpaca_eval-{ALPACA_EVAL_VERSION}.tar.gz"
MEMBER = "example/outputs.json"  # inside the sdist's top-level folder

Runner = Callable[..., Any]  # subprocess.run's signature


def reference_path() -> Path:
    return alpaca_cache() / "outputs.json"


def fetch_alpaca_eval(cache: Path | None = None, runner: Runner = subprocess.run) -> Path:
    """The path of the reference outputs, downloading the sdist once if they are not cached.

    Runs ``pip download --no-deps --no-binary :all: alpaca-eval==0.6.6 -d <cache>/sdist``; a
    failure (no registry access) is a ``UserError`` that says what to do.
    """
    cache = cache or alpaca_cache()
    target = cache / "outputs.json"
    if target.is_file():
        return target
    sdist_dir = cache / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"alpaca-eval=={ALPACA_EVAL_VERSION}", "-d", str(sdist_dir)]
    log.info("downloading the alpaca-eval %s sdist once into %s", ALPACA_EVAL_VERSION, sdist_dir)
    done = runner(command, capture_output=True, text=True)
    sdist = sdist_dir / SDIST_NAME
    if done.returncode != 0 or not sdist.is_file():
        detail = (done.stderr or "").strip().splitlines()[-1:] or ["no archive written"]
        raise UserError(f"alpaca_eval: 'pip download alpaca-eval=={ALPACA_EVAL_VERSION}' failed ({detail[0]}); "
                        f"AlpacaEval prompts need PyPI once, or put {SDIST_NAME} in {sdist_dir}")
    count = extract_outputs(sdist, target)
    log.info("AlpacaEval: %d instructions with reference outputs in %s", count, target)
    return target


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
