"""DPO with TRL's DPOTrainer: M(t) -> M(t+1) on the pairs M(t) made; the reference is M(t)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from datasets import Dataset

from srlm.config import DPOConfig
from srlm.records import preference_row
from srlm.runtime.distributed import sharded_training, world_size
from srlm.training.common import NonFiniteLossGuard, TrainerLog, common_args, final_loss, load_for_training, loss_positions_only, peft_config, quiet, save_state, save_trained


def to_dataset(pairs: list[dict]) -> Dataset:
    """Pair rows as TRL's conversational preference format: the three columns the trainer reads
    (``iter<t>/dpo.jsonl`` holds the same rows with their ids)."""
    return Dataset.from_list([{key: row[key] for key in ("prompt", "chosen", "rejected")} for row in map(preference_row, pairs)])


def train_dpo(model_path: str, tokenizer: Any, pairs: list[dict], cfg: DPOConfig, target: Path, *, seed: int, dtype: str, trust_remote_code: bool = False, callbacks: list | None = None) -> dict:
    """Train on ``pairs`` starting from ``model_path`` (also the reference) and save to ``target``.

    With LoRA, TRL uses the same weights with the adapter disabled as the reference; with
    precomputed reference log-probs it scores the pairs with the model before its first step.
    Either way no second copy of the model is loaded. ``callbacks`` and ``trainer_state.json``:
    as in ``train_sft``.
    """
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from srlm.runtime.models import load_model

    started = time.time()
    lora = peft_config(cfg.lora)
    model, dropout = load_for_training(model_path, cfg.dropout, dtype, trust_remote_code)
    # TRL's precomputed reference log-probs need one plain process: with several, its cache
    # of an in-memory data set lands in each process's own temporary folder; under FSDP it
    # runs before the model is on the GPU.
    precompute = cfg.precompute_ref_log_probs and world_size() == 1 and not sharded_training()
    # Before its first step the model *is* the reference: precomputing needs no copy of it
    # (a copy costs its load time and its weights' memory).
    ref_model = None if lora or precompute else load_model(model_path, dtype, trust_remote_code)
    # TRL zeroes every nn.Dropout unless told not to; the reference is scored in eval mode anyway.
    args = TRLDPOConfig(**common_args(cfg, target.parent / "trainer", seed, dtype), beta=cfg.beta, precompute_ref_log_probs=precompute, disable_dropout=cfg.dropout == 0)
    with loss_positions_only():  # also around the constructor: it precomputes the reference
        trainer = quiet(DPOTrainer(
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=to_dataset(pairs),
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[NonFiniteLossGuard(), TrainerLog(f"{target.parent.name} dpo"), *(callbacks or [])],
        ))
        trainer.train()
    save_state(trainer, target.parent)
    save_trained(trainer, tokenizer, target)
    return {"pairs": len(pairs), "steps": trainer.state.global_step, "processes": trainer.accelerator.num_processes, "final_loss": final_loss(trainer), **dropout, "seconds": round(time.time() - started, 1)}
