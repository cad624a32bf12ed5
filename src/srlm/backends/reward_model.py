"""A sequence-classification reward model: one scalar per (prompt, response).

``judge.kind: reward_model`` (Wu et al. 2024, section 4: StarlingRM-34B as an external reward
model baseline). The model is any ``AutoModelForSequenceClassification`` checkpoint with one
output (``num_labels: 1``), the Bradley-Terry reward models' shape. The conversation is
rendered with the reward model's own chat template when it has one (a reward model is trained
on its template), else as ``prompt + "\\n\\n" + response``. ``judging.kinds`` maps the raw
reward to the judge's 0-5 scale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from srlm.errors import UserError

# Longer inputs are cut from the left of the response's end: a reward model sees the prompt.
MAX_LENGTH = 2048


def check_reward_model_dir(path: str | Path, key: str = "judge.spec") -> str:
    """One line describing the reward model in ``path``, or a ``UserError`` saying why it is not one.

    Read from ``config.json`` alone (no weights are loaded): the architecture must be a
    ``...ForSequenceClassification`` with one output. A causal LM is refused here, before a run
    would load it and fail (or, worse, read its first logits as rewards).
    """
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise UserError(f"config key '{key}': {path} has no config.json, so it is no model directory")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"config key '{key}': {config_file} is not valid JSON ({exc})") from None
    architectures = data.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        found = ", ".join(map(str, architectures)) or "no architecture"
        raise UserError(f"config key '{key}': {path} is {found}, not a sequence-classification reward model (judge.kind reward_model needs an AutoModelForSequenceClassification with num_labels 1; a causal LM judges with judge.kind model)")
    labels = data.get("num_labels") or len(data.get("id2label") or {}) or 2
    if labels != 1:
        raise UserError(f"config key '{key}': {path} has {labels} outputs; a reward model gives one scalar (num_labels 1)")
    return f"{architectures[0]}, one scalar output"


class RewardModel:
    """Batched scalar rewards from a local sequence-classification checkpoint."""

    def __init__(self, model_dir: str | Path, dtype: str = "float32", trust_remote_code: bool = False, batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        from srlm.runtime.models import load_tokenizer

        check_reward_model_dir(model_dir)
        self.tokenizer = load_tokenizer(str(model_dir), trust_remote_code)
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code).eval()
        # The classifier reads the last non-pad token, so the model must know the pad id.
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size = max(1, batch_size)

    def text(self, prompt: str, response: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            conversation = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return self.tokenizer.apply_chat_template(conversation, tokenize=False)
        return f"{prompt}\n\n{response}"

    def rewards(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The raw reward of each (prompt, response), in order."""
        import torch

        found: list[float] = []
        for start in range(0, len(pairs), self.batch_size):
            texts = [self.text(p, r) for p, r in pairs[start : start + self.batch_size]]
            batch = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_LENGTH, add_special_tokens=False)
            with torch.no_grad():
                logits = self.model(**batch.to(self.model.device)).logits
            found += [float(v) for v in logits[:, 0].float().cpu()]
        return found

    def close(self) -> None:
        del self.model
