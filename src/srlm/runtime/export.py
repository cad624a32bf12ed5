"""``srlm export``: one checkpoint of a run as a folder the Hugging Face Hub takes as is.

The folder holds what a user of ``from_pretrained`` needs and nothing else: the weights
(safetensors), ``config.json`` and ``generation_config.json`` fit for inference, the tokenizer,
the model card (``README.md``) and the run's resolved config (``srlm_config.yaml``). Markers and
trainer files stay behind. ``huggingface_hub.upload_folder`` or ``hf upload`` publishes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from srlm.errors import UserError
from srlm.runtime.model_card import model_name, write_model_card
from srlm.runtime.models import fit_for_inference
from srlm.runtime.rundir import RunDir, model_done

# Never shipped: the completion marker (old runs kept it inside the model folder), the
# trainer's pickled arguments, and half-written files.
LEFT_BEHIND = ("COMPLETE", "training_args.bin", "README.md")
LEFT_BEHIND_SUFFIXES = (".tmp", ".partial", ".lock")


def export_model(run_root: Path, out: Path, model: str | None = None) -> tuple[Path, str]:
    """Copy model M<t> of the run at ``run_root`` (default: its latest complete one) to ``out``.

    Returns ``(out, name)``, the name being ``<run>-M<t>`` (a sensible Hub repo name). Refuses a
    path that is no run, a model that is not complete, and an ``out`` that exists and is not empty.
    """
    run = RunDir(run_root)
    if (run_root / "model").is_dir() and (run_root.parent / "config.yaml").is_file():
        raise UserError(f"{run_root}: model {run_root.name} of the run in {run_root.parent}, not a run; "
                        f"try 'srlm export {run_root.parent} --model {run_root.name} {out}'")
    if not run.config.is_file():
        raise UserError(f"{run_root}: not a run directory (no config.yaml)")
    t = _model_index(run, model)
    source = run.model(t)
    if not model_done(source):
        raise UserError(f"{source}: M{t} is not complete (no {run.model_dir(t).name}/COMPLETE marker); finish the run first ('srlm run ...' continues it)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not empty; give a new folder")
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    _copy_model(source, staging)
    fit_for_inference(staging)  # checkpoints saved by older versions lack it
    frozen = run.model_dir(t) / "config.yaml"
    shutil.copy2(frozen if frozen.is_file() else run.config, staging / "srlm_config.yaml")
    write_model_card(run, t, staging)
    if out.exists():
        out.rmdir()
    staging.rename(out)
    return out, model_name(run, t)


def _model_index(run: RunDir, model: str | None) -> int:
    """t of ``--model M<t>`` (or ``t``), or of the latest complete model."""
    if model:
        digits = model[1:] if model[:1] in "Mm" else model
        if not digits.isdigit() or int(digits) < 1:
            raise UserError(f"--model {model!r}: expected M<t>, e.g. M3")
        if not run.model_dir(int(digits)).is_dir():
            raise UserError(f"{run.model_dir(int(digits))}: this run has no model {model}")
        return int(digits)
    done = sorted(int(p.name[1:]) for p in run.root.glob("M*") if p.name[1:].isdigit() and model_done(run.model(int(p.name[1:]))))
    if not done:
        raise UserError(f"{run.root}: this run has no complete model yet")
    return done[-1]


def _copy_model(source: Path, staging: Path) -> None:
    """The model folder's files, without markers and trainer leftovers; checks the essentials."""
    staging.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        if path.name in LEFT_BEHIND or path.name.endswith(LEFT_BEHIND_SUFFIXES) or path.name.startswith("checkpoint-"):
            continue
        if path.is_dir():
            shutil.copytree(path, staging / path.name)
        else:
            shutil.copy2(path, staging / path.name)
    if not (staging / "config.json").is_file() or not any(staging.glob("*.safetensors")):
        shutil.rmtree(staging)
        raise UserError(f"{source}: no config.json or safetensors weights; not a checkpoint srlm wrote")
