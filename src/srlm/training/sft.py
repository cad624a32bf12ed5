"""Supervised fine-tuning with TRL's SFTTrainer: M0 -> M1 on IFT + EFT (loss on responses only)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from datasets import Dataset

from srlm.config import SFTConfig
from srlm.records import as_sft_row
from srlm.training.common import NonFiniteLossGuard, TrainerLog, common_args, final_loss, load_for_training, loss_positions_only, peft_config, quiet, save_state, save_trained

log = logging.getLogger(__name__)


def to_dataset(rows: list[dict]) -> Dataset:
    """SFT rows (``records.SFTRow``, or ``{"prompt", "response"}``) as TRL's conversational
    prompt-completion format, the two columns the trainer reads.

    TRL computes the loss on the completion tokens only for this format (SR: "loss on the
    response tokens only").
    """
    return Dataset.from_list([{key: row[key] for key in ("prompt", "completion")} for row in map(as_sft_row, rows)])


def train_sft(model_path: str, tokenizer: Any, rows: list[dict], cfg: SFTConfig, target: Path, *, seed: int, dtype: str, trust_remote_code: bool = False, callbacks: list | None = None) -> dict:
    """Fine-tune the model at ``model_path`` on ``rows`` and save it to ``target``; returns stats.

    ``callbacks``: extra ``transformers.TrainerCallback``s (the judge study measures the model
    at the end of every epoch with one; the pipeline sends the logs to its tracker with one).
    The trainer's state, every logged loss included, is kept as ``trainer_state.json`` beside
    ``target``.
    """
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    started = time.time()
    model, dropout = load_for_training(model_path, cfg.dropout, dtype, trust_remote_code)
    model.train()
    args = TRLSFTConfig(**common_args(cfg, target.parent / "trainer", seed, dtype), completion_only_loss=True)
    trainer = quiet(SFTTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(rows),
        processing_class=tokenizer,
        peft_config=peft_config(cfg.lora),
        callbacks=[NonFiniteLossGuard(), TrainerLog(f"{target.parent.name} sft"), *(callbacks or [])],
    ))
    with loss_positions_only():
        trainer.train()
    save_state(trainer, target.parent)
    save_trained(trainer, tokenizer, target)
    return {"rows": len(rows), "steps": trainer.state.global_step, "processes": trainer.accelerator.num_processes, "final_loss": final_loss(trainer), **dropout, "seconds": round(time.time() - started, 1)}
