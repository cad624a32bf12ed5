"""Open Assistant rows split by message tree into IFT, EFT-train and EFT-held-out, first of all.

The held-out judge set must measure a judge that has never seen its prompts, and must not be
picked by that judge (Yuan et al. 2024, section 3.1: 1,630 train and 531 evaluation examples
that do not overlap with the IFT data; their SFT baseline scores 65.1 % pairwise on the
evaluation set, Table 4, so that set was not filtered for agreement). So every tree goes to
exactly one part before any model sees the data; the agreement filter and the down-sampling
(``data.ranked_eft``) run later, on the EFT-train part alone.

1. Held out: ``eft_heldout`` trees with a ranked group (two or more ranked replies). When the
   export carries oasst1's own split, only its validation trees are held out and only its train
   trees are used for training; otherwise trees are drawn in a seeded order (sorted ids, shuffled).
2. Trees whose prompt text equals a held-out prompt (``disjoint.prompt_key``) are set aside,
   counted: a different tree with the same question would still leak it.
3. IFT: ``ift`` trees with a rank-0 reply, first those without a ranked group (they can serve
   nothing else), then the rest in the seeded order.
4. EFT-train: every remaining tree with a ranked group.

A part smaller than asked is reported in ``warnings`` (and printed by the command), never
silently accepted; a part that ends up empty while asked for is an error.
"""

from __future__ import annotations

import random
from collections import Counter

from srlm.data.disjoint import overlap, prompt_key
from srlm.data.oasst import OasstImport
from srlm.errors import UserError


def split_trees(result: OasstImport, ift: int, eft_heldout: int, seed: int) -> tuple[dict[str, list[dict]], dict]:
    """``({"ift", "eft_train", "eft_heldout"}: rows, stats)`` from an import, disjoint by tree."""
    ift_rows = {r["message_tree_id"]: r for r in result.ift}
    eft_rows = {r["message_tree_id"]: r for r in result.eft}
    trees = sorted(set(ift_rows) | set(eft_rows))
    random.Random(seed).shuffle(trees)
    splits = Counter((ift_rows.get(t) or eft_rows[t]).get("split") for t in trees)
    own_split = splits["validation"] > 0
    train_side = [t for t in trees if not own_split or (ift_rows.get(t) or eft_rows[t]).get("split") != "validation"]
    held = [t for t in trees if t in eft_rows and (not own_split or eft_rows[t].get("split") == "validation")][:eft_heldout]
    held_keys, held_set = {prompt_key(eft_rows[t]["prompt"]) for t in held}, set(held)
    rest = [t for t in train_side if t not in held_set]
    same_prompt = [t for t in rest if prompt_key((ift_rows.get(t) or eft_rows[t])["prompt"]) in held_keys]
    rest = [t for t in rest if prompt_key((ift_rows.get(t) or eft_rows[t])["prompt"]) not in held_keys]
    ift_first = [t for t in rest if t in ift_rows and t not in eft_rows] + [t for t in rest if t in ift_rows and t in eft_rows]
    chosen_ift = set(ift_first[:ift])
    parts = {"ift": [ift_rows[t] for t in trees if t in chosen_ift],
             "eft_train": [eft_rows[t] for t in rest if t in eft_rows and t not in chosen_ift],
             "eft_heldout": [eft_rows[t] for t in held]}
    stats = _stats(parts, ift, eft_heldout, seed, own_split, len(trees), len(same_prompt), splits)
    _check_parts(parts, ift, eft_heldout, result, stats)
    return parts, stats


def _stats(parts: dict[str, list[dict]], ift: int, eft_heldout: int, seed: int, own_split: bool,
           trees: int, same_prompt: int, splits: Counter) -> dict:
    """Sizes asked and got, where the split came from, and the measured overlap."""
    used = sum(len(rows) for rows in parts.values())
    sizes = {"ift": {"asked": ift, "got": len(parts["ift"])},
             "eft_heldout": {"asked": eft_heldout, "got": len(parts["eft_heldout"]),
                             "responses": sum(len(r["responses"]) for r in parts["eft_heldout"])},
             "eft_train_pool": {"got": len(parts["eft_train"]), "responses": sum(len(r["responses"]) for r in parts["eft_train"])}}
    warnings = [f"{name}: {size['got']} of {size['asked']} asked" for name, size in sizes.items()
                if "asked" in size and size["got"] < size["asked"]]
    return {
        "split": {"method": "oasst1 train/validation (held out from validation)" if own_split else "seeded by tree",
                  "seed": seed, "trees": trees, "trees_by_oasst1_split": {str(k or "not given"): v for k, v in sorted(splits.items(), key=str)},
                  **sizes, "set_aside_same_prompt_as_heldout": same_prompt, "unused_trees": trees - used - same_prompt},
        "overlap": overlap(parts["eft_heldout"], {"ift": parts["ift"], "eft_train": parts["eft_train"]}),
        "warnings": warnings,
    }


def _check_parts(parts: dict[str, list[dict]], ift: int, eft_heldout: int, result: OasstImport, stats: dict) -> None:
    """A part that was asked for and came out empty is a user error, not an empty file."""
    judge_trees = len(result.eft)
    if eft_heldout and not parts["eft_heldout"]:
        where = "in oasst1's validation split" if "validation" in stats["split"]["method"] else "in the export"
        raise UserError(f"no tree with a ranked group {where} for the held-out judge set (--eft-heldout {eft_heldout})")
    if not parts["eft_train"]:
        raise UserError(f"no tree left for EFT training: the export has {judge_trees} trees with a ranked group, "
                        f"{len(parts['eft_heldout'])} held out (--eft-heldout {eft_heldout}) and the rest taken for IFT "
                        f"(--ift {ift}); ask for fewer")
    if ift and not parts["ift"]:
        raise UserError(f"no tree with a rank-0 reply left for IFT (--ift {ift}); dropped: {result.dropped}")
