"""Stage M1: SFT of M0 on IFT + EFT (SR section 2.2); M1 = M0 when SFT is off."""

from __future__ import annotations

from srlm.config import Config, to_dict
from srlm.records import SFTRow
from srlm.runtime import distributed
from srlm.runtime.model_card import invoked_command, write_model_card
from srlm.runtime.models import load_tokenizer, resolve_model
from srlm.runtime.rundir import RunDir, mark_model_done, model_done, write_json, write_yaml
from srlm.runtime.tracking import Tracker
from srlm.stages.common import log, track_segment
from srlm.training.common import save_model


def run(config: Config, run: RunDir, sft_rows: list[SFTRow], tracker: Tracker | None = None) -> dict | None:
    """Make ``M1/model`` unless it is already complete; returns training stats.

    ``tracker``: the run's experiment tracker; SFT's logs are its segment 0.
    """
    target = run.model(1)
    if model_done(target):
        return None
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base, config.trust_remote_code)
    if config.sft.enabled:
        from srlm.training.sft import train_sft

        callbacks = track_segment(tracker, run, 0)
        stats = train_sft(base, tokenizer, sft_rows, config.sft, target, seed=config.seed, dtype=config.dtype, trust_remote_code=config.trust_remote_code, callbacks=callbacks)
    else:
        from srlm.runtime.models import load_model

        save_model(load_model(base, config.dtype, config.trust_remote_code), tokenizer, target)
        stats = {"rows": 0, "note": "sft.enabled is false: M1 is M0"}
    stats["base_model"] = config.model
    if invoked_command():
        stats["command"] = invoked_command()
    if distributed.is_main():
        write_json(run.model_dir(1) / "train.json", stats)
        write_yaml(run.model_dir(1) / "config.yaml", to_dict(config))
        write_model_card(run, 1)
    distributed.on_main(mark_model_done, target)  # last: counts first, then "done"
    log.info("M1 ready at %s (%s)", target, stats)
    return stats
