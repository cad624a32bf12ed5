"""Hub-ready checkpoints: every model has a card the Hub parses and configs fit for inference;
``srlm export`` writes a folder that ``from_pretrained`` loads and ``hf upload`` can publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from srlm.cli import main
from srlm.runtime.rundir import RunDir, read_json


@pytest.fixture
def run(one_iteration_run: RunDir) -> RunDir:
    return one_iteration_run


def test_every_checkpoint_has_a_card_the_hub_parses_with_its_eval_metrics(run: RunDir) -> None:
    from huggingface_hub import ModelCard

    for t, trainer in ((1, "sft"), (2, "dpo")):
        card = ModelCard.load(run.model(t) / "README.md")
        assert card.data.library_name == "transformers" and {"trl", trainer, "self-rewarding"} <= set(card.data.tags)
        pairwise = read_json(run.eval(t))["judge"]["pairwise_accuracy"]
        assert f"| judge: pairwise accuracy | {pairwise:.4g} [" in card.text
        assert f"# {run.root.name}-M{t}" in card.text
    stats = read_json(run.iteration(1) / "stats.json")
    assert f"| preference pairs kept / prompts | {stats['pairs']['kept']} / {stats['pairs']['prompts']} |" in ModelCard.load(run.model(2) / "README.md").text


def test_saved_configs_are_fit_for_inference_and_the_marker_is_outside_the_model(run: RunDir) -> None:
    for t in (1, 2):
        folder = run.model(t)
        assert (run.model_dir(t) / "COMPLETE").is_file() and not (folder / "COMPLETE").exists()
        assert read_json(folder / "config.json")["use_cache"] is True
        assert read_json(folder / "tokenizer_config.json")["model_max_length"] == read_json(folder / "config.json")["max_position_embeddings"]
        generation = read_json(folder / "generation_config.json")
        eos = read_json(folder / "tokenizer_config.json")["eos_token"]
        eos_id = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"][eos]
        assert eos_id in ([generation["eos_token_id"]] if isinstance(generation["eos_token_id"], int) else generation["eos_token_id"])
        assert generation["pad_token_id"] is not None


def test_export_loads_with_from_pretrained_and_ships_no_run_files(run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch
    from huggingface_hub import ModelCard
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "export"
    assert main(["export", str(run.root), str(out)]) == 0
    assert f"hf upload <your-user>/{run.root.name}-M2 {out}" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "srlm_config.yaml"} <= names
    assert not names & {"COMPLETE", "training_args.bin", "train.json", "eval.json", "trainer"}
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    source = load_file(run.model(2) / "model.safetensors")
    for name, value in model.state_dict().items():
        if name in source:
            assert torch.equal(value, source[name]), name
    assert "dpo" in ModelCard.load(out / "README.md").data.tags


def test_export_refuses_an_existing_folder_an_incomplete_model_and_a_non_run(run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["export", str(run.root), str(busy)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (busy / "keep.txt").read_text() == "mine"
    copy = tmp_path / "copy"
    shutil.copytree(run.root, copy)
    (copy / "M2" / "COMPLETE").unlink()
    assert main(["export", str(copy), str(tmp_path / "a"), "--model", "M2"]) == 2
    assert "M2 is not complete" in capsys.readouterr().err
    assert main(["export", str(run.model_dir(1)), str(tmp_path / "b")]) == 2
    assert f"not a run; try 'srlm export {run.root} --model M1" in capsys.readouterr().err
    assert main(["export", str(tmp_path), str(tmp_path / "b")]) == 2
    assert "not a run directory (no config.yaml)" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_run_made_before_the_marker_moved_resumes_and_exports_without_it(run: RunDir, tmp_path: Path) -> None:
    from srlm.runtime.rundir import model_done

    old = tmp_path / "old"
    shutil.copytree(run.root, old)
    for t in (1, 2):  # the former layout: the marker inside the model folder, no card
        (old / f"M{t}" / "COMPLETE").rename(old / f"M{t}" / "model" / "COMPLETE")
        (old / f"M{t}" / "model" / "README.md").unlink()
    assert model_done(RunDir(old).model(2))
    assert main(["export", str(old), str(tmp_path / "out"), "--model", "M1"]) == 0
    assert "COMPLETE" not in {p.name for p in (tmp_path / "out").iterdir()}
    assert (tmp_path / "out" / "README.md").is_file()
