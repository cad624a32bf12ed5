"""Head-to-head of two models on the same prompts (Yuan et al. 2024, section 3.2).

1. Model A answers every prompt, then model B (one model in memory at a time).
2. The judge compares each pair of answers (``pairwise.head_to_head_verdicts``), with each
   model's answer shown first once.
3. ``metrics.head_to_head``: both verdicts for A = win, both for B = loss, else tie, with
   bootstrap confidence intervals over prompts.

Answers and judgments are logged next to the output file (``<out>.work/``), so rerunning the
same command resumes, and every number in the output can be traced to model text.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from srlm.backends.base import Conversation, Sampling
from srlm.config import Config
from srlm.data.seed import read_jsonl
from srlm.errors import UserError, at_line
from srlm.evaluation.judges import EvalContext, ModelRef, judge_context, model_context, work_file
from srlm.evaluation.metrics import head_to_head
from srlm.evaluation.text_table import table
from srlm.generation import Generation, generate_missing
from srlm.judging.judge import JudgeContext
from srlm.judging.kinds import FixedJudge
from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts
from srlm.runtime.rundir import RowLog, write_json


def load_prompts(spec: str, limit: int = 0) -> list[dict]:
    """Prompt rows ``{"id", "prompt"}``: ``alpaca_eval`` by name, or a JSONL / JSON-list file
    whose rows have "prompt" (or "instruction") and optionally "id"."""
    if spec == "alpaca_eval":
        from srlm.evaluation.alpaca import alpaca_prompts

        rows = alpaca_prompts()
    else:
        rows = _prompt_file(Path(spec))
    if not rows:
        raise UserError(f"{spec}: no prompts")
    return rows[:limit] if limit > 0 else rows


def _prompt_file(path: Path) -> list[dict]:
    numbered = _json_list(path) if path.suffix == ".json" else read_jsonl(path)
    rows: list[dict] = []
    seen: set[str] = set()
    for line, row in numbered:
        rows.append(_prompt_row(path, line, row, seen))
    return rows


def _json_list(path: Path) -> list[tuple[int, Any]]:
    """Entries of a JSON list (e.g. an AlpacaEval outputs file), numbered from 0."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a UTF-8 JSON file ({exc})") from None
    if not isinstance(entries, list):
        raise UserError(f"{path}: expected a JSON list of objects with \"prompt\" or \"instruction\"")
    return list(enumerate(entries))


def _prompt_row(path: Path, line: int, row: Any, seen: set[str]) -> dict:
    if not isinstance(row, dict):
        raise at_line(path, line, "expected a JSON object")
    key = "prompt" if "prompt" in row else "instruction"
    text = row.get(key)
    if not isinstance(text, str) or not text.strip():
        raise at_line(path, line, "key 'prompt' (or 'instruction') must be a non-empty string")
    row_id = str(row.get("id", f"{path.stem}-{line}"))
    if row_id in seen:
        raise at_line(path, line, f"duplicate id {row_id!r} (key 'id')")
    seen.add(row_id)
    return {"id": row_id, "prompt": text, "dataset": row.get("dataset", "")}


def answer_sampling(config: Config, temperature: float = 0.0, max_new_tokens: int = 0) -> Sampling:
    """Decoding of the answers: greedy by default (reproducible), ``candidates`` limits."""
    c = config.candidates
    return Sampling(temperature=temperature, top_p=c.top_p, max_new_tokens=max_new_tokens or c.max_new_tokens)


def generate_answers(ctx: JudgeContext, prompts: list[dict], sampling: Sampling, log_path: Path, desc: str) -> dict[str, str]:
    """One answer per prompt (resumable in ``log_path``), by prompt id."""
    log = RowLog(log_path)

    def rows(chunk: Sequence[dict], outputs: list[list[str]], _: list[Conversation]) -> list[dict]:
        return [{"id": p["id"], "prompt": p["prompt"], "answer": texts[0]} for p, texts in zip(chunk, outputs)]

    # Several backend batches per call: the backend sorts a call's rows by length.
    job = Generation(
        label=desc, unit="answer", chunk_size=max(1, ctx.config.backend.batch_size) * 4,
        sampling=lambda index: dataclasses.replace(sampling, n=1, seed=ctx.seed(desc, index)),
        request=lambda p: [{"role": "user", "content": p["prompt"]}], rows=rows,
    )
    generate_missing(job, prompts, lambda: ctx.backend, log)
    log.finish(order=[p["id"] for p in prompts])
    return {row["id"]: row["answer"] for row in log.rows}


def answers_of(ref: ModelRef, config: Config, prompts: list[dict], sampling: Sampling, out: Path, ctx: EvalContext | None = None) -> dict[str, str]:
    """Answers of one model, loaded for this and released after (unless ``ctx`` is shared)."""
    own = ctx is None
    ctx = ctx or model_context(ref, config)
    log_path = work_file(out, f"answers-{ref.label}", ref.path.resolve(), _prompts_identity(prompts), sampling)
    answers = generate_answers(ctx, prompts, sampling, log_path, f"{ref.label} answers")
    if own:
        ctx.release()
    return answers


def _prompts_identity(prompts: list[dict]) -> str:
    return json.dumps([[p["id"], p["prompt"]] for p in prompts])


def compare_models(
    a: ModelRef, b: ModelRef, judge_spec: str, prompts: list[dict], config: Config, out: Path,
    settings: JudgeSettings, sampling: Sampling, api_key_env: str = "OPENAI_API_KEY",
) -> dict:
    """Run the whole head-to-head of ``a`` vs ``b`` and write ``out``; returns what was written."""
    answers_a = answers_of(a, config, prompts, sampling, out)
    answers_b = answers_of(b, config, prompts, sampling, out)
    judge = _judge(judge_spec, a, b, config, api_key_env, {p["prompt"]: p["reference"] for p in prompts if p.get("reference")})
    items = [{"id": p["id"], "prompt": p["prompt"], "answer_a": answers_a[p["id"]], "answer_b": answers_b[p["id"]]} for p in prompts]
    log_path = work_file(out, f"judgments-{settings.method}", judge_spec, judge.label, dataclasses.asdict(settings), settings.template_text(), json.dumps(items))
    ab, ba, details = head_to_head_verdicts(judge, items, settings, log_path, f"{judge.label} judging")
    judge.release()
    result = summary(a.label, b.label, judge.label, settings, ab, ba, config.seed)
    result |= {"model_a_path": str(a.path), "model_b_path": str(b.path), "n_prompts": len(prompts),
               "answer_sampling": dataclasses.asdict(sampling), "rows": rows_out(items, ab, ba, details)}
    write_json(out, result)
    return result


def _judge(spec: str, a: ModelRef, b: ModelRef, config: Config, api_key_env: str, references: dict[str, str]) -> EvalContext | FixedJudge:
    """``A``/``B`` name the compared models themselves; anything else is a judge spec (a
    function judge reads the prompts' ``reference`` field)."""
    if spec in ("A", "B"):
        return model_context(a if spec == "A" else b, config)
    return judge_context(spec, config, api_key_env, references)


def summary(label_a: str, label_b: str, judge: str, settings: JudgeSettings, ab: list, ba: list, seed: int) -> dict:
    """The head-to-head numbers and how they were obtained."""
    return {"model_a": label_a, "model_b": label_b, "judge": judge, "method": settings.method,
            "judge_settings": dataclasses.asdict(settings), "result": head_to_head(ab, ba, seed=seed)}


def rows_out(items: list[dict], ab: list, ba: list, details: list[dict]) -> list[dict]:
    """One row per prompt: both answers, the outcome and the judge's evidence."""
    outcome = {("A", "A"): "win", ("B", "B"): "loss"}
    return [
        {"id": item["id"], "prompt": item["prompt"], "answer_a": item["answer_a"], "answer_b": item["answer_b"],
         "outcome": outcome.get((x, y), "tie"), **detail}
        for item, x, y, detail in zip(items, ab, ba, details)
    ]


def print_result(result: dict) -> None:
    """A one-row summary: win / tie / loss with the win rate's confidence interval."""
    r = result["result"]
    ci = r.get("win_rate_ci")
    row = [str(r["n"]), str(r["wins"]), str(r["ties"]), str(r["losses"]), _pct(r.get("win_rate")),
           "" if not ci else f"{_pct(ci[0])}-{_pct(ci[1])}", _pct(r.get("score")), str(r.get("n_unparsed", 0))]
    title = f"{result['model_a']} vs {result['model_b']} (judge: {result['judge']}, {result['method']})"
    print(table(["prompts", "wins", "ties", "losses", "win rate", "95% CI", "win+tie/2", "unparsed"], [row], title))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
