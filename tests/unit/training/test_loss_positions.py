"""``loss_positions_only``: TRL's fused LM head scores only labelled positions on CPU, same numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srlm.training.common import loss_positions_only

trl_utils = pytest.importorskip("trl.trainer.utils")


def test_switch_is_on_inside_and_restored_after() -> None:
    original = trl_utils._use_triton
    with loss_positions_only():
        assert trl_utils._use_triton(torch.device("cpu"))
    assert trl_utils._use_triton is original


def test_log_probs_are_the_same_with_and_without(tiny_model_dir: Path) -> None:
    from srlm.runtime.models import load_model

    model = load_model(str(tiny_model_dir))
    trl_utils.add_fused_lm_head(model)
    ids = torch.randint(5, 300, (3, 24), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :15] = -100  # the prompt
    labels[2, 20:] = -100  # padding
    with torch.no_grad():
        plain = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        with loss_positions_only():
            compact = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
    assert torch.allclose(plain, compact, atol=1e-5)
    assert (compact[:, :14] == 0).all() and (compact[:, 15:] != 0).any()
