"""Generation engines behind one interface (see ``base.Backend``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srlm.config import Config
from srlm.errors import UserError


def make_backend(model_dir: Path, config: Config) -> Any:
    """The engine named by ``config.backend.kind`` over the checkpoint in ``model_dir``."""
    kind = config.backend.kind
    if kind == "transformers":
        from srlm.backends.transformers_backend import TransformersBackend
        from srlm.modeling import load_model, load_tokenizer

        tokenizer = load_tokenizer(str(model_dir), config.trust_remote_code)
        model = load_model(str(model_dir), config.dtype, config.trust_remote_code)
        return TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
    raise UserError(f"config key 'backend.kind': '{kind}' is not available in this build")
