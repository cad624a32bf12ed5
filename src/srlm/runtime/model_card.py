"""The model card (``M<t>/model/README.md``) of a checkpoint, so a model folder is Hub-ready.

The card is huggingface_hub's ``ModelCard``: YAML metadata the Hub reads (``base_model``,
``license``, ``library_name``, ``tags``, ``pipeline_tag``) above a Markdown body that says how
the model was made (method and iteration, training data counts, training settings, the command)
and how it measures (``M<t>/eval.json``). It is built from the run's own files only, so it can
be rewritten at any time: when the checkpoint is saved, and again when its ``eval.json`` is
written or updated (``srlm export`` writes it once more into the exported folder).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from srlm.runtime.rundir import RunDir, write_text

# The embedded model is SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), converted from GGUF.
EMBEDDED_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"

METHODS = {
    "self_rewarding": ("Self-Rewarding Language Models", "Yuan et al., 2024", "2401.10020", "self-rewarding"),
    "meta_rewarding": ("Meta-Rewarding Language Models", "Wu et al., 2024", "2407.19594", "meta-rewarding"),
}
AUTHORS = {
    "2401.10020": "Yuan, Weizhe and Pang, Richard Yuanzhe and Cho, Kyunghyun and Li, Xian and Sukhbaatar, Sainbayar and Xu, Jing and Weston, Jason",
    "2407.19594": "Wu, Tianhao and Yuan, Weizhe and Golovneva, Olga and Xu, Jing and Tian, Yuandong and Jiao, Jiantao and Weston, Jason and Sukhbaatar, Sainbayar",
}

USAGE = '''```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo}")
model = AutoModelForCausalLM.from_pretrained("{repo}")
messages = [{{"role": "user", "content": "Give three tips for staying healthy."}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=256)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```'''


def write_model_card(run: RunDir, t: int, folder: Path | None = None) -> Path:
    """Write (or rewrite) the card of M<t> into its model folder (or ``folder``); returns its path.

    A card that already says the same is left alone (the pipeline refreshes it on every resume).
    """
    path = (folder or run.model(t)) / "README.md"
    text = str(model_card(run, t))
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text(path, text)
    return path


def invoked_command() -> str | None:
    """The ``srlm`` command line this process runs, or None when it is not the ``srlm`` CLI.

    The stages keep it in ``M<t>/train.json`` (``command``), where the card reads it: a card
    rewritten later (after the evaluation, by ``srlm export``) still names the command that
    trained the model.
    """
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if program.name == "srlm" or program.parts[-2:] == ("srlm", "__main__.py"):
        return shlex.join(["srlm", *sys.argv[1:]])
    return None


def model_card(run: RunDir, t: int) -> Any:
    """M<t>'s ``huggingface_hub.ModelCard``, from the run's files."""
    from huggingface_hub import ModelCard, ModelCardData

    config = _config(run, t)
    method = METHODS.get(config.get("method", ""), METHODS["self_rewarding"])
    base, license_id = base_model_info(str(config.get("model", "")))
    trainer = "sft" if t == 1 or config.get("pairs", {}).get("mode") == "positive_only" else "dpo"
    data = ModelCardData(
        base_model=base, license=license_id, library_name="transformers", pipeline_tag="text-generation",
        tags=["srlm", "trl", trainer, method[3]], model_name=model_name(run, t),
    )
    body = [
        f"# {model_name(run, t)}", summary(config, t, method, base),
        training_data(run, t), training(run, t, config, trainer), evaluation(run, t),
        "## Use\n\n" + USAGE.format(repo=f"<user>/{model_name(run, t)}"), reproduce(_json(run.model_dir(t) / "train.json").get("command")), citation(method),
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(part for part in body if part) + "\n")


def model_name(run: RunDir, t: int) -> str:
    """``<run name>-M<t>``: unique across runs, unlike ``M<t>`` alone."""
    return f"{run.root.name}-M{t}"


def base_model_info(spec: str) -> tuple[str | None, str | None]:
    """(Hub repo id, license) of the base model, each None when it cannot be known offline.

    The embedded name is SmolLM2-135M-Instruct; a repo id is itself; a folder in the Hugging Face
    cache (``models--org--name/snapshots/<rev>``) is that repo. The license comes from the base
    model's own card when one is on disk.
    """
    from srlm.runtime.models import EMBEDDED_NAME

    if spec == EMBEDDED_NAME:
        return EMBEDDED_REPO, EMBEDDED_LICENSE
    path = Path(spec).expanduser()
    repo = _repo_of_cache_folder(path) if path.is_dir() else spec if spec.count("/") == 1 else None
    folder = path if path.is_dir() else _cached_folder(spec)
    return repo, _card_license(folder)


def _repo_of_cache_folder(path: Path) -> str | None:
    parts = path.resolve().parts
    for part in reversed(parts):
        if part.startswith("models--") and part.count("--") >= 2:
            return "/".join(part.split("--")[1:])
    return None


def _cached_folder(spec: str) -> Path | None:
    from srlm.errors import UserError
    from srlm.runtime.models import is_repo_id, resolve_model

    if not is_repo_id(spec):
        return None
    try:
        return Path(resolve_model(spec))
    except UserError:
        return None


def _card_license(folder: Path | None) -> str | None:
    readme = folder / "README.md" if folder else None
    if readme is None or not readme.is_file():
        return None
    from huggingface_hub import ModelCard

    try:
        license_id = ModelCard.load(readme).data.license
    except Exception:  # noqa: BLE001 - a base model's malformed card must not stop training
        return None
    return license_id if isinstance(license_id, str) else None


def summary(config: dict, t: int, method: tuple[str, str, str, str], base: str | None) -> str:
    """What this model is, in two sentences."""
    name, authors, arxiv, _ = method
    base_text = f"[{base}](https://huggingface.co/{base})" if base else f"`{config.get('model')}`"
    intro = f"Made with srlm, an implementation of [*{name}*](https://arxiv.org/abs/{arxiv}) ({authors})."
    if t == 1:
        sft = config.get("sft", {}).get("enabled", True)
        what = (f"**M1**: the base model {base_text} after supervised fine-tuning on the seed instruction (IFT) and judge (EFT) data."
                if sft else f"**M1**: the base model {base_text} unchanged (SFT was off).")
    else:
        positive_only = config.get("pairs", {}).get("mode") == "positive_only"
        how = "fine-tuned on its own top-scored answers" if positive_only else f"trained with DPO (reference M{t - 1}) on pairs of its own best and worst answers"
        what = (f"**M{t}**: M{t - 1} after self-rewarding iteration {t - 1} of {config.get('iterations', '?')}: M{t - 1} wrote new prompts, "
                f"sampled candidate answers, judged them itself, and was {how}. The chain starts from {base_text}.")
    return f"{what}\n\n{intro}"


def training_data(run: RunDir, t: int) -> str:
    """The counts of what this model was trained on."""
    train = _json(run.model_dir(t) / "train.json")
    if t == 1:
        stats = _json(run.data / "stats.json")
        keys = [("IFT rows", "ift_rows"), ("EFT judgments", "eft_judgments_for_sft"), ("meta-judgments", "meta_judgments_for_sft"), ("SFT rows in all", "sft_rows")]
        rows = [(label, stats.get(key)) for label, key in keys]
        rows.append(("sources", ", ".join(f"{k}: {v}" for k, v in stats.get("sources", {}).items())))
    else:
        stats = _json(run.iteration(t - 1) / "stats.json")
        rows = _iteration_rows(stats) + [("rows trained on", train.get("pairs", train.get("rows"))), ("by kind", train.get("rows_by_kind"))]
    lines = [f"| {label} | {_cell(value)} |" for label, value in rows if value not in (None, "", {})]
    return "## Training data\n\n| | |\n|---|---|\n" + "\n".join(lines) if lines else ""


def _iteration_rows(stats: dict) -> list[tuple[str, Any]]:
    prompts, candidates, judgments = stats.get("prompts", {}), stats.get("candidates", {}), stats.get("judgments", {})
    pairs, meta = stats.get("pairs", {}), stats.get("meta", {})
    return [
        ("new prompts kept / generated", _ratio(prompts.get("kept"), prompts.get("generated"))),
        ("candidate answers", candidates.get("candidates")),
        ("judgments parsed / written", _ratio(judgments.get("parsed"), judgments.get("judgments"))),
        ("preference pairs kept / prompts", _ratio(pairs.get("kept"), pairs.get("prompts"))),
        ("pairs dropped", pairs.get("dropped")),
        ("judge pairs (meta-judge)", meta.get("judge_pairs")),
    ]


def _cell(value: Any) -> str:
    """``{"tie": 2}`` as ``tie 2``; anything else as itself."""
    return ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


def _ratio(a: Any, b: Any) -> str | None:
    return None if a is None else f"{a} / {b}"


def training(run: RunDir, t: int, config: dict, trainer: str) -> str:
    """The trainer, its main settings and its outcome (``train.json``)."""
    section = config.get("sft" if trainer == "sft" else "dpo", {})
    keys = ("epochs", "learning_rate", "lr_scheduler", "batch_size", "beta", "max_length")
    settings = ", ".join(f"{key} {section[key]}" for key in keys if key in section)
    lora = section.get("lora", {})
    settings += f", LoRA r={lora.get('r')} merged" if lora.get("enabled") else ", full fine-tuning"
    train = _json(run.model_dir(t) / "train.json")
    # No wall-clock time: the card, like every file of a run, is the same on a rerun (CPU).
    outcome = ", ".join(f"{key.replace('_', ' ')} {_number(train[key])}" for key in ("steps", "final_loss") if train.get(key) is not None)
    name = "`trl.SFTTrainer` (loss on the answer tokens only)" if trainer == "sft" else "`trl.DPOTrainer`"
    return f"## Training\n\n{name}: {settings}." + (f" Result: {outcome}." if outcome else "")


JUDGE_METRICS = (("pairwise accuracy", "pairwise_accuracy"), ("Spearman", "spearman"), ("Kendall tau", "kendall"),
                 ("exact match", "exact_match"), ("5-best %", "five_best"), ("parse rate", "parse_rate"))


def evaluation(run: RunDir, t: int) -> str:
    """The judge metrics and the head-to-head against M1 from ``eval.json``."""
    result = _json(run.eval(t))
    if not result:
        return "## Evaluation\n\nNot evaluated yet (no `eval.json`)."
    judge, ci = result.get("judge", {}), result.get("judge", {}).get("ci95") or {}
    lines = [f"| judge: {label} | {_number(judge.get(key))}{_interval(ci.get(key))} |" for label, key in JUDGE_METRICS if key in judge]
    win = result.get("win_rate_vs_M1")
    if win:
        lines.append(f"| vs M1: wins / ties / losses | {win.get('wins')} / {win.get('ties')} / {win.get('losses')} |")
        lines.append(f"| vs M1: score (win = 1, tie = ½) | {_number(win.get('score'))}{_interval(win.get('score_ci'))} |")
    where = f"{result.get('heldout_prompts', '?')} held-out judge prompts, {result.get('judge_samples', '?')} judgment(s) each"
    return f"## Evaluation\n\nFrom `eval.json` ({where}; 95 % bootstrap intervals):\n\n| metric | value |\n|---|---|\n" + "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "n/a" if value is None else str(value)


def _interval(value: Any) -> str:
    return f" [{value[0]:.3f}, {value[1]:.3f}]" if isinstance(value, list) and len(value) == 2 and None not in value else ""


def reproduce(command: str | None) -> str:
    made = f"Made by `{command}`; t" if command else "T"
    return (f"## How it was made\n\n{made}he run's resolved config is `srlm_config.yaml` in an exported folder "
            "(`M<t>/config.yaml` in the run); `srlm run srlm_config.yaml` repeats the run.")


def citation(method: tuple[str, str, str, str]) -> str:
    name, authors, arxiv, _ = method
    key = authors.split()[0].lower() + "2024" + name.split()[0].lower().replace("-", "")
    return (f"## Citation\n\n```bibtex\n@article{{{key},\n  title={{{name}}},\n  author={{{AUTHORS[arxiv]}}},\n"
            f"  journal={{arXiv preprint arXiv:{arxiv}}},\n  year={{2024}}\n}}\n```")


def _config(run: RunDir, t: int) -> dict:
    path = run.model_dir(t) / "config.yaml"
    path = path if path.is_file() else run.config
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
