"""The README's "Evidence" table: the positive control and self-rewarding side by side.

Every cell is computed by ``control.summarize`` from the files ``control.py --keep`` copied out
of the two runs (held-out answers, evaluations, pairs; no weights) into ``experiments/results/``,
so ``tests/unit/test_experiments.py`` can rebuild the table and hold the README to it.

    python experiments/readme_evidence.py      # prints the table the README must contain
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from control import ci, fmt, outcome_cell, summarize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CONTROL = RESULTS / "tiny_control"
SELF = RESULTS / "tiny_self_calibrated"
HEADER = [
    "model",
    "control: ROUGE-L [95 % CI]", "control: change vs M1 [paired CI]", "control: vs M1 by reference W/T/L: score [CI]", "control: vs M1 by frozen M1 judge", "control: words",
    "self: ROUGE-L [95 % CI]", "self: change vs M1 [paired CI]", "self: vs M1 by reference W/T/L: score [CI]", "self: vs M1 by frozen M1 judge", "self: words",
    "self: judge pairwise acc. [CI]", "self: its pairs agree with reference",
]


def cells(row: dict | None, with_judge: bool) -> list[str]:
    """One run's cells for one model ("—" where the run has no such model)."""
    if row is None:
        return ["—"] * (7 if with_judge else 5)
    first = row["model"] == "M1"
    out = [ci(row["rouge_l"]), "—" if first else ci(row["rouge_l_change"], sign=True), outcome_cell(row["reference_win_rate"]), outcome_cell(row["m1_judge_win_rate"]), ci(row["words"], 1)]
    if with_judge:
        judge = row["judge"] or {}
        interval = judge.get("pairwise_ci")
        out.append(fmt(judge.get("pairwise_accuracy"), 2) + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""))
        pairs = row["trained_on"]
        out.append(fmt(pairs["agreement_with_reference"], 2) if pairs else "—")
    return out


def table(control: dict, self_rewarding: dict) -> str:
    by_model = [{row["model"]: row for row in found["models"]} for found in (control, self_rewarding)]
    names = sorted(set(by_model[0]) | set(by_model[1]), key=lambda m: int(m[1:]))
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for name in names:
        lines.append("| " + " | ".join([name, *cells(by_model[0].get(name), False), *cells(by_model[1].get(name), True)]) + " |")
    return "\n".join(lines)


def readme_table() -> str:
    return table(summarize(CONTROL), summarize(SELF))


if __name__ == "__main__":
    print(readme_table())
