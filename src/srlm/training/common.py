"""What SFT and DPO share: trainer arguments, LoRA settings, the loss guard, saving a model."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from transformers import TrainerCallback

from srlm.config import LoraConfig
from srlm.errors import UserError
from srlm.runtime.distributed import on_main, world_size
from srlm.runtime.models import fit_for_inference
from srlm.runtime.rundir import write_json, writing
from srlm.runtime.signals import deferred

log = logging.getLogger("srlm.training")


class TrainingDiverged(UserError):
    """The loss, the gradient norm or the weights became NaN or infinite.

    Nothing is saved, so the previous checkpoint stays the last good one. A ``UserError`` so the
    CLI prints one line instead of a traceback; exit status 3 tells it apart from bad input.
    """

    exit_code = 3


class NonFiniteLossGuard(TrainerCallback):
    """Stops training at the first logged loss or gradient norm that is NaN or infinite.

    The gradient norm matters as much as the loss: TRL's DPO loss can read 0.0 while the
    log-probabilities are NaN, but the norm of that step's gradient is NaN too.
    """

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        for key in ("loss", "grad_norm"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                raise _diverged(f"the {key.replace('_', ' ')} became {value} at step {state.global_step}")

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        # The last step's update is seen by no logged loss; its weights are checked before saving.
        # Only in one process: sharded weights differ between processes (one would stop alone).
        if model is not None and args.world_size == 1 and not all(torch.isfinite(p).all() for p in model.parameters()):
            raise _diverged(f"the weights hold NaN or infinite values after step {state.global_step}")


class TrainerLog(TrainerCallback):
    """Each logged step as one line of the ``srlm.training`` log (``run.log``; the console with -v).

    With ``disable_tqdm`` the trainer would ``print`` the dict instead (``PrinterCallback``,
    removed by ``quiet``), past any logging configuration.
    """

    def __init__(self, label: str) -> None:
        self.label = label

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            shown = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in logs.items())
            log.info("%s step %d/%d: %s", self.label, state.global_step, state.max_steps, shown)


class TrackerCallback(TrainerCallback):
    """Sends the trainer's logged numbers to the run's tracker at ``start + step``, as ``prefix/key``."""

    def __init__(self, tracker: Any, start: int, prefix: str) -> None:
        self.tracker, self.start, self.prefix = tracker, start, prefix

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        numbers = {f"{self.prefix}/{key}": value for key, value in (logs or {}).items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
        if state.is_world_process_zero and numbers:
            self.tracker.log(numbers, self.start + state.global_step)


def quiet(trainer: Any) -> Any:
    """The trainer without its ``print`` of every log (``TrainerLog`` logs them instead)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def save_state(trainer: Any, model_dir: Path) -> None:
    """The trainer's ``TrainerState`` (``log_history``: every logged loss) as ``trainer_state.json``
    beside the checkpoint, the file transformers itself writes into each of its checkpoints."""
    on_main(write_json, model_dir / "trainer_state.json", dataclasses.asdict(trainer.state))


def _diverged(what: str) -> TrainingDiverged:
    return TrainingDiverged(f"training diverged: {what}; nothing was saved, the previous model is kept (try a lower learning rate)")


# The config fields that set a dropout rate, by architecture: Llama, Mistral, Qwen2, Gemma:
# attention_dropout; GPT-2, GPT-J: resid_pdrop, embd_pdrop, attn_pdrop; GPT-NeoX, Falcon:
# hidden_dropout, attention_dropout; BERT-style: hidden_dropout_prob,
# attention_probs_dropout_prob; OPT, BART: dropout, attention_dropout, activation_dropout.
DROPOUT_FIELDS = ("attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                  "hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "activation_dropout")


def dropout_overrides(model_path: str, rate: float, trust_remote_code: bool = False) -> dict[str, float]:
    """``{field: rate}`` for each of ``DROPOUT_FIELDS`` that the model's config holds as a number.

    Passed to ``load_model``, so the layers are built with ``rate`` (SR section 3.1: 0.1). A model
    whose config has none of them trains without dropout; the stage's stats say which fields
    were set (``dropout_fields``), so that shows.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    found = {name: getattr(config, name, None) for name in DROPOUT_FIELDS}
    return {name: rate for name, value in found.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}


def load_for_training(model_path: str, rate: float, dtype: str, trust_remote_code: bool) -> tuple[Any, dict]:
    """The model with its dropout fields set to ``rate``, and the stats that record them."""
    from srlm.runtime.models import load_model

    overrides = dropout_overrides(model_path, rate, trust_remote_code)
    model = load_model(model_path, dtype, trust_remote_code, config_overrides=overrides)
    return model, {"dropout": rate, "dropout_fields": sorted(overrides)}


def common_args(cfg: Any, output_dir: Path, seed: int, dtype: str) -> dict:
    """Keyword arguments shared by TRL's SFTConfig and DPOConfig."""
    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        **_schedule(cfg),
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a share of the steps
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accumulation_steps(cfg),
        max_length=cfg.max_length,
        # transformers 5's name (``gradient_checkpointing`` is its deprecated alias).
        activation_checkpointing=cfg.gradient_checkpointing,
        # TRL turns bf16 on unless told otherwise; CPUs here have no bf16 units (1.3 GFLOP/s).
        bf16=dtype == "bfloat16" and on_gpu,
        fp16=dtype == "float16" and on_gpu,
        use_cpu=not on_gpu,
        logging_steps=1,
        # The loss guard must see each step's raw loss: with the filter on (transformers'
        # default) a NaN or infinite step loss is logged as the running mean instead.
        logging_nan_inf_filter=False,
        save_strategy="no",
        # Trackers get the logs through TrackerCallback, into one tracker run per srlm run
        # (srlm.runtime.tracking says why transformers' own callbacks are not used).
        report_to=[],
        seed=seed,
        data_seed=seed,
        # No bar and no printed dicts: TrainerLog writes each logged step to the log instead.
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def accumulation_steps(cfg: Any) -> int:
    """Micro-batches per optimizer step, so that all processes together take ``cfg.batch_size`` rows.

    The config's batch size is the paper's global batch; with N processes each takes 1/N of it.
    """
    return max(1, cfg.batch_size // (cfg.micro_batch_size * world_size()))


def _schedule(cfg: Any) -> dict:
    """transformers' scheduler arguments; cosine with a floor when ``min_lr_ratio`` > 0 (SR)."""
    if cfg.lr_scheduler == "cosine" and cfg.min_lr_ratio > 0:
        return {"lr_scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr_rate": cfg.min_lr_ratio}}
    return {"lr_scheduler_type": cfg.lr_scheduler}


def peft_config(lora: LoraConfig) -> Any:
    """A peft LoraConfig, or None for full fine-tuning."""
    if not lora.enabled:
        return None
    from peft import LoraConfig as PeftLoraConfig

    targets: Any = lora.target_modules if lora.target_modules == "all-linear" else [t.strip() for t in lora.target_modules.split(",")]
    return PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, task_type="CAUSAL_LM")


def save_model(model: Any, tokenizer: Any, target: Path) -> None:
    """Save as safetensors (LoRA merged in) to a staging folder, then move into place.

    The checkpoint is not marked complete here: the stage writes its counts first and then
    calls ``rundir.mark_model_done``, so a kill between the two cannot lose the counts.

    With several processes each holds the whole model (DDP): the main process saves it, and every
    process returns once the checkpoint is complete, so the next stage can load it.
    """
    on_main(_save_whole, model, tokenizer, target)


def save_trained(trainer: Any, tokenizer: Any, target: Path) -> None:
    """Save a trainer's model like ``save_model``; FSDP and DeepSpeed shards are gathered first."""
    if not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        release_training_state(trainer)
        save_model(trainer.model, tokenizer, target)
        return
    gathered = target.with_name(target.name + ".gathered")
    on_main(shutil.rmtree, gathered, True)
    # Gathering the shards is a collective: every process calls it, the main process writes.
    trainer.save_model(str(gathered))
    on_main(_from_gathered, gathered, tokenizer, target)


def release_training_state(trainer: Any) -> None:
    """Free the optimizer's moments and the gradients (3x the weights in float32) before saving:
    the weights alone are saved, and the save's own buffers then do not add to the peak."""
    from srlm.runtime.resources import free_memory

    trainer.accelerator.free_memory()  # drops accelerate's references to optimizer and scheduler
    trainer.optimizer, trainer.lr_scheduler = None, None
    trainer.model.zero_grad(set_to_none=True)
    free_memory()


def _save_whole(model: Any, tokenizer: Any, target: Path) -> None:
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    # A polite stop waits for the save; a full disk is named, and the half-saved staging folder
    # removed (its space freed) while the previous model stays the latest complete one.
    with deferred(), writing(staging, cleanup=lambda: shutil.rmtree(staging, ignore_errors=True)):
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        fit_for_inference(staging, tokenizer)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)


def _from_gathered(gathered: Path, tokenizer: Any, target: Path) -> None:
    """The checkpoint Trainer.save_model gathered, as a plain model directory at ``target``."""
    if (gathered / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        # A LoRA adapter: merged into its base (the adapter config names the base's directory).
        _save_whole(AutoPeftModelForCausalLM.from_pretrained(str(gathered)), tokenizer, target)
        shutil.rmtree(gathered)
        return
    tokenizer.save_pretrained(gathered)
    (gathered / "training_args.bin").unlink(missing_ok=True)
    fit_for_inference(gathered, tokenizer)
    shutil.rmtree(target, ignore_errors=True)
    gathered.rename(target)


def final_loss(trainer: Any) -> float | None:
    """The last logged training loss."""
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return losses[-1] if losses else None


@contextmanager
def loss_positions_only() -> Iterator[None]:
    """Inside: TRL's fused LM head projects only the positions that have a label on CPU too.

    TRL scores only labelled positions where it runs Triton and every position elsewhere (a
    fixed shape keeps Neuron from recompiling). On CPU that spends the 49k-vocabulary head on
    prompt and padding tokens; skipping them measured 8 % off a DPO run's training time and
    27 % off an SFT run on judge rows (430 tokens, 30 scored), a quarter less peak memory
    there, and the same loss to 1e-5 (docs/performance.md). Nothing changes where TRL lacks
    the switch.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        yield
        return
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original
