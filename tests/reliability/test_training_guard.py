"""Training guards: a diverging run stops with one clear line and keeps the last good model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from srlm.training.common import NonFiniteLossGuard, TrainingDiverged
from tests.reliability.harness import FAST, Runner, attempt_log, fingerprint

# A learning rate of 1e30: the first update throws the weights far out, the next step's
# gradients are NaN. Batch size 2 gives DPO the several steps that takes.
EXPLODING_DPO = (*FAST, "dpo.learning_rate=1e30", "dpo.batch_size=2")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dpo_divergence_keeps_m1_writes_no_m2_and_a_fixed_rerun_continues(runner: Runner, reference: dict, tmp_path: Path) -> None:
    answer = runner.attempt(tmp_path, extra=EXPLODING_DPO)
    log = attempt_log(tmp_path)
    assert answer["outcome"] == "exited" and answer["code"] == 3, log
    assert "srlm: error: training diverged: the grad norm became nan" in log
    root = tmp_path / "t"
    assert (root / "M1" / "COMPLETE").is_file()
    assert sha(root / "M1" / "model" / "model.safetensors") == sha(reference["root"] / "M1" / "model" / "model.safetensors")
    assert not (root / "M2" / "model").exists() and not (root / "M2" / "model.tmp").exists()
    # With the paper's learning rate back (--force: the config changed) the run goes on from
    # the stage files already written and ends where an uninterrupted run ends.
    fixed = runner.attempt(tmp_path, force=True)
    assert fixed["code"] == 0, attempt_log(tmp_path)
    assert fingerprint(root) == fingerprint(reference["root"])


@pytest.fixture
def keep_torch_threads():
    """The CLI sets torch's thread count for the whole test process; put it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_cli_prints_divergence_in_one_line_and_exits_3(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, keep_torch_threads: None) -> None:
    from srlm.cli import main
    from srlm.config import load_config, to_dict
    from tests.helpers.scripted import tiny_overrides

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(to_dict(load_config(None, tiny_overrides(tiny_model_dir, tmp_path / "runs", *FAST)))))
    code = main(["run", str(config), "sft.learning_rate=1e30", "sft.batch_size=2"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "srlm: error: training diverged" in err and "previous model is kept" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "t" / "M1" / "model").exists()  # M0 is the last good model


def test_a_nan_loss_with_finite_gradients_stops_training(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, keep_torch_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard reads the raw step loss: a NaN loss whose gradients stay finite (so only the
    logged loss can show it) ends the run with exit 3 and no M1 (transformers' NaN filter, on by
    default, would log the running mean instead and the run would go on)."""
    from trl import SFTTrainer

    from srlm.cli import main
    from srlm.config import load_config, to_dict
    from tests.helpers.scripted import tiny_overrides

    real_loss = SFTTrainer.compute_loss

    def nan_loss(self, model, inputs, return_outputs=False, **kwargs):  # noqa: ANN001, ANN202
        out = real_loss(self, model, inputs, return_outputs=return_outputs, **kwargs)
        loss = out[0] if return_outputs else out
        poisoned = loss + loss.detach() * float("nan")  # the value is NaN, the gradient the real one
        return (poisoned, *out[1:]) if return_outputs else poisoned

    monkeypatch.setattr(SFTTrainer, "compute_loss", nan_loss)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(to_dict(load_config(None, tiny_overrides(tiny_model_dir, tmp_path / "runs", *FAST)))))
    code = main(["run", str(config)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "srlm: error: training diverged: the loss became nan at step 1" in err
    assert not (tmp_path / "runs" / "t" / "M1" / "model").exists()  # M0 stays the last good model


def _state(step: int = 7) -> SimpleNamespace:
    return SimpleNamespace(global_step=step)


@pytest.mark.parametrize("logs", [{"loss": float("nan")}, {"loss": float("inf")}, {"loss": 0.0, "grad_norm": float("nan")}, {"grad_norm": float("-inf")}])
def test_guard_stops_at_a_non_finite_loss_or_gradient_norm(logs: dict) -> None:
    with pytest.raises(TrainingDiverged, match="at step 7"):
        NonFiniteLossGuard().on_log(None, _state(), None, logs=logs)


def test_guard_lets_finite_logs_pass_and_checks_the_last_weights() -> None:
    guard, args = NonFiniteLossGuard(), SimpleNamespace(world_size=1)
    guard.on_log(args, _state(), None, logs={"loss": 0.69, "grad_norm": 1.6, "learning_rate": 1e-6})
    model = torch.nn.Linear(2, 2)
    guard.on_train_end(args, _state(), None, model=model)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match="weights"):
        guard.on_train_end(args, _state(), None, model=model)
    assert TrainingDiverged.exit_code == 3
