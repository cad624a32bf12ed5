"""How well a model judges: reward-model metrics on held-out human-ranked (or scored) responses.

The same measurement as the pipeline's ``M<t>/eval.json`` (``stages.evaluate``), for any model
or for every model of a run, on any EFT-format file (``data.seed.load_eft``): pairwise accuracy,
exact match, 5-best %, Spearman and Kendall against the human labels (Yuan et al. 2024, Table 4).
"""

from __future__ import annotations

from pathlib import Path

from srlm.config import Config
from srlm.data.seed import load_eft
from srlm.errors import UserError
from srlm.evaluation.judges import ModelRef, file_digest, model_context, resolve, run_models, is_run_dir, work_file
from srlm.evaluation.text_table import table
from srlm.rundir import write_json
from srlm.stages.evaluate import judge_metrics

# metrics key -> column header (short: the table must fit an 80-column terminal)
COLUMNS = {"pairwise_accuracy": "pairwise", "exact_match": "exact", "five_best": "5-best", "spearman": "spearman",
           "kendall": "kendall", "parse_rate": "parsed", "share_top_score": "top score"}


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
    rows = [[r["model"], *(_fmt(r["judge"][key]) for key in COLUMNS), str(r["judge"]["n_groups"])] for r in report["results"]]
    title = f"judge metrics on {report['data']} ({report['heldout_prompts']} prompts)"
    print(table(["model", *COLUMNS.values(), "groups"], rows, title))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
