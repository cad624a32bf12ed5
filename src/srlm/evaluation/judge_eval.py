"""How well a model judges: reward-model metrics on held-out human-ranked (or scored) responses.

``judge_metrics`` is the measurement behind the pipeline's ``M<t>/eval.json`` (the evaluate
stage) and ``srlm eval judge`` (any model, or every model of a run, on any EFT-format file,
``data.seed.load_eft``): pairwise accuracy, exact match, 5-best %, Spearman and Kendall against
the human labels (Yuan et al. 2024, section 3.3 and Table 4), with bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from srlm.config import Config
from srlm.data.seed import load_eft
from srlm.errors import UserError
from srlm.evaluation.judges import ModelRef, file_digest, is_run_dir, model_context, resolve, run_models, work_file
from srlm.evaluation.metrics import DEFINITIONS, Group, bootstrap_intervals, reward_model_metrics
from srlm.evaluation.text_table import table
from srlm.judging.judge import JudgeContext, judge_items, response_items, text_mean
from srlm.records import JudgmentRow, RankedPrompt
from srlm.runtime.rundir import RowLog, write_json

# metrics key -> column header (short: the table must fit an 80-column terminal)
# "pairwise" is the strict value (a judge tie earns 0), the papers' reading; "untied" leaves
# judge ties out, "ties ½" counts them half; "tied" is the share of pairs the judge tied.
COLUMNS = {"pairwise_accuracy_strict": "pairwise", "pairwise_accuracy_untied": "untied", "pairwise_accuracy_tie_half": "ties ½",
           "judge_tie_share": "tied",
           "exact_match": "exact", "five_best": "5-best", "spearman": "spearman", "kendall": "kendall",
           "parse_rate": "parsed", "share_top_score": "top score"}


def groups_from(heldout: Sequence[RankedPrompt], judged: dict[str, JudgmentRow], score: Callable[[JudgmentRow], float | None] = lambda row: row["mean_score"]) -> list[Group]:
    """Metric groups: the judge's score (``score`` of its row) and the human label of each response."""
    groups = []
    for row in heldout:
        scores = [score(judged[f"{row['id']}-r{k}"]) for k in range(len(row["responses"]))]
        if "rank" in row["responses"][0]:
            groups.append(Group.from_ranks(scores, [r["rank"] for r in row["responses"]]))
        else:
            groups.append(Group.from_scores(scores, [r["score"] for r in row["responses"]]))
    return groups


def judge_metrics(ctx: JudgeContext, heldout: Sequence[RankedPrompt], log_path: Path, samples: int, temperature: float, desc: str) -> dict:
    """Reward-model metrics of ``ctx``'s model judging ``heldout`` (judgments resumable in ``log_path``)."""
    items = response_items(heldout)
    judged_log = RowLog(log_path)
    judge_items(ctx, items, judged_log, samples, temperature, desc)
    judged_log.finish(order=[i["id"] for i in items])
    judged = {row["id"]: row for row in judged_log.rows}
    groups = groups_from(heldout, judged)  # type: ignore[arg-type]
    metrics = {**reward_model_metrics(groups), "ci95": bootstrap_intervals(groups)}
    if ctx.config.judge.scoring == "expected":  # the written digits too, to compare the two
        text_groups = groups_from(heldout, judged, text_mean)  # type: ignore[arg-type]
        metrics["text_scoring"] = {**reward_model_metrics(text_groups), "ci95": bootstrap_intervals(text_groups)}
    return metrics | {"definitions": DEFINITIONS}


def targets(spec: str, every: bool = False) -> list[ModelRef]:
    """The models to measure: a run's latest complete model (all with ``every``), or one model."""
    if is_run_dir(spec):
        return run_models(spec, every)
    if every:
        raise UserError(f"--all: '{spec}' is a model, not a run directory")
    return [resolve(spec)]


def default_data(spec: str) -> Path:
    """A run's own held-out judge data; a plain model needs ``--data``."""
    path = Path(spec) / "data" / "eft_heldout.jsonl"
    if not is_run_dir(spec):
        raise UserError(f"eval judge: give --data FILE (held-out EFT JSONL) for model '{spec}'")
    if not path.is_file():
        raise UserError(f"{path}: this run has no held-out judge data; give --data FILE")
    return path


def evaluate_judges(models: list[ModelRef], data: Path, config: Config, out: Path, samples: int, max_prompts: int = 0) -> dict:
    """Judge every response of ``data`` with each model; write and return the metrics."""
    heldout = load_eft(data)
    if max_prompts > 0:
        heldout = heldout[:max_prompts]
    temperature = config.eval.judge_temperature
    results = []
    for ref in models:
        ctx = model_context(ref, config)
        log_path = work_file(out, f"judgments-{ref.label}", ref.path.resolve(), file_digest(data), max_prompts,
                             samples, temperature, config.judge)
        metrics = judge_metrics(ctx, heldout, log_path, samples, temperature, f"{ref.label} judge eval")
        ctx.release()
        results.append({"model": ref.label, "path": str(ref.path), "judge": metrics, "judgments": str(log_path)})
    report = {"data": str(data), "heldout_prompts": len(heldout), "judge_samples": samples,
              "judge_temperature": temperature, "judge_template": config.judge.template, "results": results}
    write_json(out, report)
    return report


def print_table(report: dict) -> None:
    """One row per model, one column per metric."""
    rows = [[r["model"], *(_fmt(r["judge"].get(key)) for key in COLUMNS), str(r["judge"]["n_groups"])] for r in report["results"]]
    title = f"judge metrics on {report['data']} ({report['heldout_prompts']} prompts)"
    print(table(["model", *COLUMNS.values(), "groups"], rows, title))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
