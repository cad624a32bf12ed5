"""Whether judge evaluation data is unseen: the prompts of a held-out set found in training rows.

A prompt counts as the same prompt when its text matches after collapsing whitespace and case
(Open Assistant holds many "hello"-like prompts in different trees), and as the same tree when
both rows carry the same ``message_tree_id``. Both counts are computed from the rows, never
assumed, so ``stats.json`` shows a measured 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def prompt_key(text: str) -> str:
    """The form two prompts are compared in.

    >>> prompt_key("  What is   2+2?\\n") == prompt_key("what is 2+2?")
    True
    """
    return " ".join(text.split()).casefold()


def overlap(heldout: Sequence[dict], training: Mapping[str, Iterable[dict]]) -> dict:
    """Held-out prompts (and trees) that also appear in each named training set, and in any.

    >>> overlap([{"prompt": "Hi", "message_tree_id": "t1"}], {"ift": [{"prompt": "hi "}], "eft_train": []})
    {'heldout_prompts': 1, 'heldout_prompts_in_training': 1, 'heldout_trees_in_training': 0, 'by_set': {'ift': 1, 'eft_train': 0}}
    """
    held_prompts = {prompt_key(r["prompt"]) for r in heldout}
    held_trees = {r["message_tree_id"] for r in heldout if r.get("message_tree_id")}
    seen_prompts: set[str] = set()
    seen_trees: set[str] = set()
    by_set = {}
    for name, rows in training.items():
        prompts = {prompt_key(r["prompt"]) for r in rows}
        seen_trees |= {r["message_tree_id"] for r in rows if r.get("message_tree_id")}
        by_set[name] = len(held_prompts & prompts)
        seen_prompts |= prompts
    return {"heldout_prompts": len(heldout), "heldout_prompts_in_training": len(held_prompts & seen_prompts),
            "heldout_trees_in_training": len(held_trees & seen_trees), "by_set": by_set}
