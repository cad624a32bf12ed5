"""Stage 0: the seed data this run uses, copied into ``<run>/data`` so the run is self-contained.

Writes ``ift.jsonl`` (instruction data), ``eft_train.jsonl`` / ``eft_heldout.jsonl`` (judge
data), ``sft.jsonl`` (IFT + EFT judgments as SFT rows in TRL's conversational prompt-completion
format, plus synthetic meta-judgments when a Meta-Rewarding run sets ``data.max_meta``) and
``stats.json``.
"""

from __future__ import annotations

import logging

from srlm.config import Config
from srlm.data.disjoint import overlap
from srlm.data.eft_builder import build_eft, judge_sft_rows, split_heldout
from srlm.data.meta_builder import build_meta, unusable_responses
from srlm.data.seed import load_eft, load_ift
from srlm.data.sources import seed_source
from srlm.judging.templates import load_template
from srlm.records import SeedBundle, sft_row
from srlm.runtime.rundir import RunDir, read_rows, write_json, write_rows

BUILTIN_DEGRADED = "builtin:degraded"

log = logging.getLogger("srlm")


def run(config: Config, run: RunDir) -> SeedBundle:
    """Prepare (once) and return the run's seed files."""
    folder = run.data
    names = ("ift", "ift_heldout", "eft_train", "eft_heldout", "sft")
    if (folder / "stats.json").exists():
        return {name: read_rows(folder / f"{name}.jsonl") for name in names}
    cfg = config.data
    ift = load_ift(seed_source(cfg.ift))
    if cfg.max_ift:
        ift = ift[: cfg.max_ift]
    ift, ift_heldout, eft_train, eft_heldout = _split(config, ift)
    template = load_template(config.judge.template, ("prompt", "response"))
    judge_rows = judge_sft_rows(eft_train, template)
    if cfg.max_eft:
        judge_rows = judge_rows[: cfg.max_eft]
    sft = [sft_row(r["prompt"], r["response"], "ift") for r in ift] if cfg.sft_ift else []
    sft += [sft_row(r["prompt"], r["response"], "eft") for r in judge_rows]
    meta_rows = _meta_rows(config, eft_train)
    sft += [sft_row(r["prompt"], r["response"], "meta") for r in meta_rows]
    files = {"ift": ift, "ift_heldout": ift_heldout, "eft_train": eft_train, "eft_heldout": eft_heldout, "sft": sft}
    for name, rows in files.items():
        write_rows(folder / f"{name}.jsonl", rows)
    write_json(folder / "stats.json", {
        "ift_rows": len(ift), "ift_heldout_rows": len(ift_heldout), "eft_train_prompts": len(eft_train), "eft_heldout_prompts": len(eft_heldout),
        "eft_judgments_for_sft": len(judge_rows), "meta_judgments_for_sft": len(meta_rows), "sft_rows": len(sft),
        **({"meta_unusable_responses": unusable_responses(eft_train)} if meta_rows else {}),
        "sources": {"ift": cfg.ift, "eft": cfg.eft, "eft_heldout": cfg.eft_heldout or f"{cfg.heldout_fraction:.0%} of eft"},
        "overlap": _overlap(ift, eft_train, eft_heldout),
    })
    return files


def _overlap(ift: list[dict], eft_train: list[dict], eft_heldout: list[dict]) -> dict:
    """Held-out judge prompts found among the prompts M1 is trained on (IFT, also the few-shot
    pool, and EFT-train, the source of the judge and meta-judge SFT rows): measured, should be 0."""
    found = overlap(eft_heldout, {"ift": ift, "eft_train": eft_train})
    if found["heldout_prompts_in_training"] or found["heldout_trees_in_training"]:
        log.warning("%d of %d held-out judge prompts (%d trees) are also training prompts: the judge metrics are not "
                    "on unseen data (data/stats.json 'overlap'); build the files with srlm import-oasst (docs/reproduce.md)",
                    found["heldout_prompts_in_training"], len(eft_heldout), found["heldout_trees_in_training"])
    return found


def check_sources(config: Config) -> list[str]:
    """Load every seed file the config names, as ``run`` would (pre-flight for ``srlm validate``).

    A missing file, or a row that does not parse, is a ``UserError`` naming the file and line.
    """
    cfg = config.data
    done = [f"data.ift {cfg.ift}: {len(load_ift(seed_source(cfg.ift)))} rows"]
    for key in ("eft", "eft_heldout"):
        spec = getattr(cfg, key)
        if spec and spec != BUILTIN_DEGRADED:
            done.append(f"data.{key} {spec}: {len(load_eft(seed_source(spec)))} prompts")
    return done


def _meta_rows(config: Config, eft_train: list[dict]) -> list[dict]:
    """Synthetic meta-judge rows for SFT: only in a Meta-Rewarding run that asks for them.

    Built from the EFT training rows only, so the held-out judge prompts stay unseen.
    """
    if config.method != "meta_rewarding" or not config.data.max_meta:
        return []
    template = load_template(config.meta.template, ("prompt", "response", "judgment_a", "judgment_b"))
    return build_meta(eft_train, template, seed=config.seed, limit=config.data.max_meta)


def _split(config: Config, ift: list[dict]) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(IFT train, IFT held-out, EFT train, EFT held-out).

    With 'builtin:degraded' the IFT rows are split first and each part is degraded on its own,
    so no held-out judge prompt (nor its good answer) is ever seen in SFT.
    """
    cfg = config.data
    if cfg.eft == BUILTIN_DEGRADED:
        if cfg.eft_heldout:
            return ift, [], build_eft(ift, seed=config.seed), load_eft(seed_source(cfg.eft_heldout))
        train, heldout = split_heldout(ift, cfg.heldout_fraction, config.seed)
        return train, heldout, build_eft(train, seed=config.seed), build_eft(heldout, seed=config.seed)
    eft = load_eft(seed_source(cfg.eft)) if cfg.eft else []
    if cfg.eft_heldout:
        return ift, [], eft, load_eft(seed_source(cfg.eft_heldout))
    eft_train, eft_heldout = split_heldout(eft, cfg.heldout_fraction, config.seed)
    return ift, [], eft_train, eft_heldout
