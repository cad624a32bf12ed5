"""``sft.dropout`` / ``dpo.dropout`` reach the model's layers (SR section 3.1: 0.1)."""

from __future__ import annotations

from pathlib import Path

from srlm.training.common import dropout_overrides, load_for_training


def test_dropout_is_written_into_the_fields_the_model_has(tiny_model_dir: Path) -> None:
    assert dropout_overrides(str(tiny_model_dir), 0.1) == {"attention_dropout": 0.1}  # a Llama: one field


def test_the_layers_are_built_with_the_configured_rate(tiny_model_dir: Path) -> None:
    model, stats = load_for_training(str(tiny_model_dir), 0.1, "float32", False)
    assert stats == {"dropout": 0.1, "dropout_fields": ["attention_dropout"]}
    assert model.config.attention_dropout == 0.1
    # Llama's attention reads its rate once, when the layer is made: the config alone would not do.
    assert {layer.self_attn.attention_dropout for layer in model.model.layers} == {0.1}
    plain, _ = load_for_training(str(tiny_model_dir), 0.0, "float32", False)
    assert {layer.self_attn.attention_dropout for layer in plain.model.layers} == {0.0}
