"""Published benchmark numbers are the benchmark's own output: docs/performance.md's engine
table is bench/published/engines.md, which bench/bench_engines.py wrote from engines.json."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "bench" / "published"


def test_the_engine_table_in_the_docs_is_the_benchmark_output() -> None:
    rows = [line for line in (PUBLISHED / "engines.md").read_text().splitlines() if line.startswith("| ")]
    docs = (ROOT / "docs" / "performance.md").read_text()
    assert len(rows) >= 4 and all(row in docs for row in rows)


def test_the_published_ratios_are_the_published_rates() -> None:
    # Every ratio is that engine's tokens/s over ours in the same run.
    result = json.loads((PUBLISHED / "engines.json").read_text())
    for per in result["workloads"].values():
        ours = per["ours"]["tokens"] / per["ours"]["seconds"]
        for engine, found in per.items():
            assert abs(found["tokens"] / found["seconds"] / ours - found["vs_ours"]) < 0.01, engine
