"""``srlm export RUN_DIR [--model M3] OUT``: a checkpoint as a folder ready for the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_command(subparsers: Any) -> None:
    """Register ``srlm export``."""
    export = subparsers.add_parser("export", help="write a model of a run as a folder ready for 'hf upload'")
    export.add_argument("run_dir", help="a run directory, e.g. runs/tiny")
    export.add_argument("out", help="folder to write (must not exist, or be empty)")
    export.add_argument("--model", default="", help="which model, e.g. M2 (default: the latest complete one)")
    export.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from srlm.runtime.export import export_model

    out, name = export_model(Path(args.run_dir), Path(args.out), args.model or None)
    print(f"written: {out} (model card, weights, tokenizer, generation config, srlm_config.yaml)")
    print(f"publish: hf upload <your-user>/{name} {out}")
    return 0
