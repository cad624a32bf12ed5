"""The run's training files are TRL-ready: ``load_dataset("json")`` of ``iter<t>/dpo.jsonl`` or
``data/sft.jsonl``, tokenized by TRL's own trainers, gives exactly the tokens srlm trains on.

"What srlm trains on" is read from srlm's real training call (``train_dpo`` / ``train_sft``),
stopped just before its first step: the trainer's prepared ``train_dataset``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.config import DPOConfig, SFTConfig
from srlm.records import preference_row
from srlm.runtime.models import load_tokenizer
from srlm.runtime.rundir import RunDir, read_rows


class Stop(Exception):
    """Raised instead of training: the trainer is built and its data set prepared."""


def _trainer_of(call, trainer_class, monkeypatch: pytest.MonkeyPatch):
    seen = {}

    def train(self, *args, **kwargs):
        seen["trainer"] = self
        raise Stop

    monkeypatch.setattr(trainer_class, "train", train)
    with pytest.raises(Stop):
        call()
    return seen["trainer"]


def _json_dataset(path: Path):
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train")


def test_dpo_file_tokenizes_with_trl_to_the_tokens_srlm_trains_on(one_iteration_run: RunDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trl import DPOTrainer

    from srlm.training.dpo import train_dpo

    run, model = one_iteration_run, str(one_iteration_run.model(1))
    pairs = read_rows(run.iteration(1) / "pairs.jsonl")
    assert read_rows(run.iteration(1) / "dpo.jsonl") == [preference_row(p) for p in pairs]  # every pair, in order
    tokenizer = load_tokenizer(model)
    call = lambda: train_dpo(model, tokenizer, pairs, DPOConfig(micro_batch_size=2, batch_size=2), tmp_path / "m", seed=0, dtype="float32")  # noqa: E731
    trainer = _trainer_of(call, DPOTrainer, monkeypatch)
    ours = trainer.train_dataset
    theirs = trainer._prepare_dataset(_json_dataset(run.iteration(1) / "dpo.jsonl"), tokenizer, trainer.args, "dpo.jsonl")
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert theirs[column] == ours[column], column
    first = pairs[0]
    messages = [{"role": "user", "content": first["prompt"]}]
    assert ours["prompt_ids"][0] == tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert tokenizer.decode(ours["chosen_ids"][0]).startswith(first["chosen"])
    # The plain strings of pairs.jsonl (TRL's standard format) would train on other tokens.
    standard = trainer._prepare_dataset(_json_dataset(run.iteration(1) / "pairs.jsonl"), tokenizer, trainer.args, "pairs.jsonl")
    assert standard["prompt_ids"][0] != ours["prompt_ids"][0]


def test_sft_file_tokenizes_with_trl_to_the_tokens_srlm_trains_on(one_iteration_run: RunDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trl import SFTTrainer

    from srlm.training.sft import train_sft

    run, model = one_iteration_run, str(one_iteration_run.model(1))
    rows = read_rows(run.data / "sft.jsonl")
    assert rows and all(set(row) == {"prompt", "completion", "kind"} for row in rows)
    tokenizer = load_tokenizer(model)
    call = lambda: train_sft(model, tokenizer, rows, SFTConfig(micro_batch_size=2, batch_size=2), tmp_path / "m", seed=0, dtype="float32")  # noqa: E731
    trainer = _trainer_of(call, SFTTrainer, monkeypatch)
    ours = trainer.train_dataset
    theirs = trainer._prepare_dataset(_json_dataset(run.data / "sft.jsonl"), tokenizer, trainer.args, False, None, "sft.jsonl")
    for column in ("input_ids", "labels"):  # labels: -100 outside the completion
        assert theirs[column] == ours[column], column
    conversation = rows[0]["prompt"] + rows[0]["completion"]
    assert ours["input_ids"][0] == tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"]
    answer = [label for label in ours["labels"][0] if label != -100]
    assert tokenizer.decode(answer).startswith(rows[0]["completion"][0]["content"])
