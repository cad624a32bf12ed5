"""Stage 5: train M(t+1) from M(t) on the iteration's pairs (DPO, reference M(t)).

In the 'positive_only' variant, M(t+1) is M(t) fine-tuned (SFT) on its own top-scored responses.
"""

from __future__ import annotations

from collections import Counter

from srlm.config import to_dict
from srlm.records import TrainingRow
from srlm.runtime import distributed
from srlm.runtime.models import load_tokenizer
from srlm.runtime.rundir import mark_model_done, model_done, write_json, write_yaml
from srlm.stages.common import PipelineStop, StageContext, log, track_segment


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
    source = str(ctx.model_path)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    callbacks = track_segment(ctx.tracker, ctx.run, t)
    if config.pairs.mode == "pairs":
        from srlm.training.dpo import train_dpo

        stats = train_dpo(source, tokenizer, rows, config.dpo, target, seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code, callbacks=callbacks)
    else:
        from srlm.training.sft import train_sft

        stats = train_sft(source, tokenizer, rows, config.sft, target, seed=config.seed + t, dtype=config.dtype, trust_remote_code=config.trust_remote_code, callbacks=callbacks)
    stats["trained_from"] = f"M{t}"
    # Meta-Rewarding mixes actor and judge pairs; say how many of each were trained on.
    stats["rows_by_kind"] = dict(Counter(row.get("kind", "actor") for row in rows))
    ctx.record("train", stats)
    if distributed.is_main():
        write_json(ctx.run.model_dir(t + 1) / "train.json", stats)
        write_yaml(ctx.run.model_dir(t + 1) / "config.yaml", to_dict(config))
    distributed.on_main(mark_model_done, target)  # last: counts first, then "done"
    log.info("M%d ready at %s", t + 1, target)
    return stats
