"""Report sections that put model-written text side by side (read by ``texts``):

- the answers of M1, M2, M3 ... to the same held-out IFT prompts, each followed by the judge's
  verdicts of M<t> against M1 with its reasons (the head-to-head of Yuan et al. 2024, section 3.2);
- each model's judgment of the same held-out EFT responses, beside the human score (the judge
  evaluation of section 3.3).

All of it is model output: the renderer escapes it; long texts are cut (the files hold them whole).
"""

from __future__ import annotations

import json
from typing import Any

from srlm.report.files import RunFiles, fmt, num, section
from srlm.report.render import Columns, Text, missing

TEXT_CHARS = 1200  # longer texts are cut in the report
WIN_RATE_KEY = "win_rate_vs_M1"


def cut(text: Any, limit: int = TEXT_CHARS) -> str:
    """The text, cut at ``limit`` characters; anything else than a string as JSON ("" for none)."""
    text = text if isinstance(text, str) else "" if text is None else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"


def answers(run: RunFiles) -> list:
    """Per held-out prompt: every model's answer in one row, then the judge's verdicts."""
    found = run.texts.answers
    if not found:
        if num(section(run.config, "eval").get("win_rate_prompts")) == 0:
            return [Text("Not measured: eval.win_rate_prompts is 0, so no model answered the held-out prompts.")]
        return missing("no M*/win_rate_answers.jsonl yet (the head-to-head writes them)")
    order = list(dict.fromkeys(pid for t in sorted(found) for pid in found[t]))
    blocks: list = [Text("Greedy answers of each model to the same held-out IFT prompts (never trained on), "
                         "then the head-to-head judge's verdicts of M<t> against M1, in both orders, with its reasons.")]
    for pid in order:
        rows = {t: found[t][pid] for t in sorted(found) if pid in found[t]}
        prompt = next(iter(rows.values())).get("prompt")
        columns = [(f"M{t}", _outcome_line(run, t, pid), cut(row.get("answer"))) for t, row in rows.items()]
        blocks.append(Columns(f"Held-out prompt {pid}", [("Prompt", cut(prompt))], columns))
        for t in sorted(run.texts.verdicts):
            if verdicts := run.texts.verdicts[t].get(pid):
                judge = section(run.evals.get(t, {}), WIN_RATE_KEY).get("judge", "see eval.json")
                blocks.append(Columns(f"{pid}: M{t} vs M1, judged by {judge}", [], [_verdict_column(t, v) for v in verdicts]))
    return blocks


def _outcome_line(run: RunFiles, t: int, pid: str) -> str:
    """'win for M3 (both orders)' / 'tie' / 'reference' for one model's answer to one prompt."""
    if t == 1:
        return "the reference the others are judged against"
    winners = [row.get("winner") for row in run.texts.verdicts.get(t, {}).get(pid, []) if "winner" in row]
    scores = {row.get("id", "")[-2:]: num(row.get("mean_score")) for row in run.texts.verdicts.get(t, {}).get(pid, []) if "mean_score" in row}
    if len(winners) == 2:
        outcome = "win" if winners == ["A", "A"] else "loss" if winners == ["B", "B"] else "tie"
        return f"vs M1: {outcome} (verdicts: {', '.join(_side(w, t) for w in winners)})"
    if "-a" in scores and "-b" in scores:
        return f"vs M1: mean score {fmt(scores['-a'])} against {fmt(scores['-b'])}"
    return "no verdict recorded"


def _side(winner: Any, t: int) -> str:
    return f"M{t}" if winner == "A" else "M1" if winner == "B" else "none"


def _verdict_column(t: int, row: dict) -> tuple[str, str, str]:
    """One judgment of the head-to-head: which answer was shown first, who won, the judge's text."""
    if "judgment" in row:  # pairwise: one text per order
        first = "M1" if row.get("b_first") else f"M{t}"
        return f"{first}'s answer shown first", f"verdict {row.get('verdict')!s}: {_side(row.get('winner'), t)} preferred", cut(row.get("judgment"))
    whose = f"M{t}" if str(row.get("id", "")).endswith("-a") else "M1"  # additive: each answer scored alone
    texts = row.get("judgments") if isinstance(row.get("judgments"), list) else []
    return f"{whose}'s answer, scored alone", f"scores {fmt(row.get('scores'))}, mean {fmt(num(row.get('mean_score')))}", cut("\n---\n".join(map(str, texts)))


def judge_reasons(run: RunFiles) -> list:
    """Per held-out EFT response: the human score and each model's judgment of it, side by side."""
    judged, heldout = run.texts.judged, run.texts.heldout
    if not judged:
        return missing("no M*/eval_judgments.jsonl yet (the judge evaluation writes them)")
    if not heldout:
        return missing("no data/eft_heldout.jsonl rows for the judged prompts")
    first = run.evals.get(min(judged), {})
    samples, temperature = num(first.get("judge_samples")), num(first.get("judge_temperature"))
    how = f" ({fmt(samples)} judgment(s) per response at temperature {fmt(temperature)}, as M{min(judged)}/eval.json records)" if samples and temperature is not None else ""
    blocks: list = [Text(f"The same held-out responses judged by each model{how}; 'people' is the human score the metrics compare against.")]
    for pid, row in heldout.items():
        responses = row.get("responses") if isinstance(row.get("responses"), list) else []
        for k, response in enumerate(r for r in responses if isinstance(r, dict)):
            rid = f"{pid}-r{k}"
            human = response.get("score", response.get("rank"))
            columns = [("people", f"{'rank' if 'rank' in response and 'score' not in response else 'score'} {fmt(human)}", cut(response.get("judgment")))]
            columns += [(f"M{t} as judge", _judged_line(judged[t][rid]), cut("\n---\n".join(map(str, judged[t][rid].get("judgments") or []))))
                        for t in sorted(judged) if rid in judged[t]]
            fields = ([("Prompt", cut(row.get("prompt")))] if k == 0 else []) + [("Response", cut(response.get("text")))]
            blocks.append(Columns(f"{pid}, response {k} ({response.get('kind', 'graded')})", fields, columns))
    return blocks


def _judged_line(row: dict) -> str:
    expected = row.get("expected_scores")
    line = f"written scores {fmt(row.get('scores'))}, mean used {fmt(num(row.get('mean_score')))}"
    return line + (f" (expected digits {fmt(expected)})" if isinstance(expected, list) and expected else "")
