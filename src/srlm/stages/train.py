"""Stage 5: train M(t+1) from M(t) on the iteration's pairs (DPO, reference M(t)).

In the 'positive_only' variant, M(t+1) is M(t) fine-tuned (SFT) on its own top-scored responses.
"""

from __future__ import annotations

from collections import Counter

from srlm.config import to_dict
from srlm.records import TrainingRow, preference_row, sft_row
from srlm.runtime import distributed
from srlm.runtime.model_card import invoked_command, write_model_card
from srlm.runtime.models import load_tokenizer
from srlm.runtime.rundir import mark_model_done, model_done, write_json, write_rows, write_yaml
from srlm.stages.common import PipelineStop, StageContext, log


def run(ctx: StageContext, rows: list[TrainingRow]) -> dict | None:
    """Make ``M<t+1>/model`` unless it is already complete."""
    config, t = ctx.config, ctx.iteration
    target = ctx.run.model(t + 1)
    if model_done(target):
        return None
    if not rows:
        raise PipelineStop(
            f"iteration {t}: no usable training rows in {ctx.folder} (see stats.json: every prompt was "
            "dropped as a tie, unscored or below the margin); not training on nothing. Try more prompts, "
            "more candidates (candidates.n), more judge samples, or check the judge's parse rate."
        )
    ctx.release()
    distributed.on_main(write_training_file, ctx, rows)
    source = str(ctx.model_path)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    if config.pairs.mode == "pairs":
        from srlm.training.dpo import train_dpo

        stats = train_dpo(source, tokenizer, rows, config.dpo, target, seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code)
    else:
        from srlm.training.sft import train_sft

        stats = train_sft(source, tokenizer, rows, config.sft, target, seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code)
    stats["trained_from"] = f"M{t}"
    # Meta-Rewarding mixes actor and judge pairs; say how many of each were trained on.
    stats["rows_by_kind"] = dict(Counter(row.get("kind", "actor") for row in rows))
    ctx.record("train", stats)
    if distributed.is_main():
        # The command goes to train.json (the card reads it there), not to stats.json's counts.
        write_json(ctx.run.model_dir(t + 1) / "train.json", {**stats, **({"command": invoked_command()} if invoked_command() else {})})
        write_yaml(ctx.run.model_dir(t + 1) / "config.yaml", to_dict(config))
        write_model_card(ctx.run, t + 1)
    distributed.on_main(mark_model_done, target)  # last: counts first, then "done"
    log.info("M%d ready at %s", t + 1, target)
    return stats


def write_training_file(ctx: StageContext, rows: list[TrainingRow]) -> None:
    """The rows this iteration trains on, in TRL's conversational format, as TRL's trainers read
    them: ``dpo.jsonl`` (prompt / chosen / rejected messages; actor pairs, and judge pairs in
    Meta-Rewarding) or, for ``pairs.mode: positive_only``, ``sft.jsonl`` (prompt / completion).

    ``load_dataset("json", data_files=...)`` of this file given to TRL's trainer tokenizes to
    exactly the tokens srlm trains on (tests/integration/test_trl_files.py).
    """
    if ctx.config.pairs.mode == "pairs":
        write_rows(ctx.path("dpo.jsonl"), [preference_row(row) for row in rows])  # type: ignore[arg-type]
    else:
        write_rows(ctx.path("sft.jsonl"), [sft_row(row["prompt"], row["response"], "positive") for row in rows])  # type: ignore[typeddict-item]
