"""Stage 5: train M(t+1) from M(t) on the iteration's pairs (DPO, reference M(t)).

In the 'positive_only' variant (SR section 3.1, "augmenting with positive examples only"), the
top-scored responses join the seed SFT data (IFT + EFT, as for M1) and M(t+1) is that SFT of M0
(``pairs.positive_from: M0``, the default: the model is fine-tuned as M1 was) or of M(t).
"""

from __future__ import annotations

from collections import Counter

from srlm.config import to_dict
from srlm.records import SFTRow, TrainingRow, as_sft_row, preference_row, sft_row
from srlm.runtime import distributed
from srlm.runtime.model_card import invoked_command, write_model_card
from srlm.runtime.models import load_tokenizer
from srlm.runtime.rundir import mark_model_done, model_done, write_json, write_rows, write_yaml
from srlm.stages.common import PipelineStop, StageContext, log, track_segment


def _dpo(ctx: StageContext, rows: list[TrainingRow], callbacks: list) -> dict:
    from srlm.training.dpo import train_dpo

    config, t, source = ctx.config, ctx.iteration, str(ctx.model_path)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    stats = train_dpo(source, tokenizer, rows, config.dpo, ctx.run.model(t + 1), seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code, callbacks=callbacks)
    return {**stats, "trained_from": f"M{t}"}


def _sft(ctx: StageContext, rows: list[SFTRow], callbacks: list) -> dict:
    """SFT on seed + positive rows, from M0 (as M1 was made) or from M(t)."""
    from srlm.runtime.models import resolve_model
    from srlm.training.sft import train_sft

    config, t = ctx.config, ctx.iteration
    from_m0 = config.pairs.positive_from == "M0"
    source = str(resolve_model(config.model)) if from_m0 else str(ctx.model_path)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    stats = train_sft(source, tokenizer, rows, config.sft, ctx.run.model(t + 1), seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code, callbacks=callbacks)
    return {**stats, "trained_from": "M0" if from_m0 else f"M{t}"}


def run(ctx: StageContext, rows: list[TrainingRow], seed_sft: list[SFTRow] = ()) -> dict | None:
    """Make ``M<t+1>/model`` unless it is already complete.

    ``rows``: the iteration's pairs (DPO) or positive rows; ``seed_sft``: the rows M1 was
    fine-tuned on, which the positive rows join in 'positive_only' mode.
    """
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
    if config.pairs.mode != "pairs":
        rows = [*seed_sft, *(sft_row(r["prompt"], r["response"], "positive") for r in rows)]  # type: ignore[list-item]
    distributed.on_main(write_training_file, ctx, rows)
    callbacks = track_segment(ctx.tracker, ctx.run, t)
    stats = _dpo(ctx, rows, callbacks) if config.pairs.mode == "pairs" else _sft(ctx, rows, callbacks)  # type: ignore[arg-type]
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


def write_training_file(ctx: StageContext, rows: list) -> None:
    """The rows this iteration trains on, in TRL's conversational format, as TRL's trainers read
    them: ``dpo.jsonl`` (prompt / chosen / rejected messages; actor pairs, and judge pairs in
    Meta-Rewarding) or, for ``pairs.mode: positive_only``, ``sft.jsonl`` (prompt / completion:
    the seed SFT rows and the positives that join them).

    ``load_dataset("json", data_files=...)`` of this file given to TRL's trainer tokenizes to
    exactly the tokens srlm trains on (tests/integration/test_trl_files.py).
    """
    if ctx.config.pairs.mode == "pairs":
        write_rows(ctx.path("dpo.jsonl"), [preference_row(row) for row in rows])
    else:
        write_rows(ctx.path("sft.jsonl"), [as_sft_row(row) for row in rows])
