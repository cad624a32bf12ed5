"""Who generates and who judges in an evaluation: models, run directories, HTTP endpoints.

A *model spec* on the command line is a model directory or cached hub name (see
``srlm.runtime.models.resolve_model``), the embedded model's name, or a run directory (its latest
complete model M<t>). A *judge spec* is a model spec or ``openai:<model_name>@<base_url>``: an
OpenAI-compatible chat endpoint whose key is read from an environment variable at each request,
``function:<package.module:function>`` or ``reward_model:<model>`` (``judging.kinds``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from srlm.backends.base import Backend
from srlm.config import Config, from_dict, load_config, read_yaml
from srlm.errors import UserError
from srlm.generation import stable_seed
from srlm.judging.kinds import FixedJudge, fixed_judge, parse_openai, split_judge_spec
from srlm.runtime.resources import free_memory
from srlm.runtime.rundir import RunDir, model_done


BackendFactory = Callable[[Path, Config], Backend]


def default_backend_factory(model_dir: Path, config: Config) -> Backend:
    """The configured engine (``backend.kind``) over a local model directory."""
    from srlm.backends import make_backend

    return make_backend(model_dir, config)


# Tests replace this with a factory whose judge is scripted (a random tiny model never writes
# a verdict); everything else goes through the real engines.
BACKEND_FACTORY: BackendFactory = default_backend_factory


@dataclass
class EvalContext:
    """A model to generate or judge with, loaded on first use (a ``JudgeContext``)."""

    config: Config
    label: str
    make: Callable[[], Backend]
    _backend: Backend | None = field(default=None, repr=False)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self.make()
        return self._backend

    def seed(self, stage: str, *chunk: int) -> int:
        """The seed of one chunk: fixed by the config's seed, the stage and the chunk index."""
        return stable_seed(self.config.seed, "eval", stage, *chunk)

    def release(self) -> None:
        """Free the model before the next one is loaded (a 70B model does not fit twice)."""
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        free_memory()


@dataclass(frozen=True)
class ModelRef:
    """A resolved model spec: a short label, the checkpoint directory and its origin."""

    label: str
    path: Path
    spec: str


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / "config.yaml").is_file()


def complete_models(run: RunDir) -> list[int]:
    """The t of every complete checkpoint M<t> of a run, in order."""
    found = []
    for folder in run.root.glob("M*"):
        if folder.name[1:].isdigit() and model_done(run.model(int(folder.name[1:]))):
            found.append(int(folder.name[1:]))
    return sorted(found)


def run_models(root: str | Path, every: bool = False) -> list[ModelRef]:
    """The latest complete model of a run (or all of them), as ``ModelRef``s labelled M<t>."""
    run = RunDir(Path(root))
    ts = complete_models(run)
    if not ts:
        raise UserError(f"{root}: this run has no complete model yet (no M<t>/COMPLETE marker)")
    return [ModelRef(f"M{t}", run.model(t), f"{root}/M{t}") for t in (ts if every else ts[-1:])]


def resolve(spec: str) -> ModelRef:
    """A model directory, cached hub name, the embedded model, or a run's latest model."""
    from srlm.runtime.models import resolve_model

    if is_run_dir(spec):
        return run_models(spec)[0]
    path = Path(resolve_model(spec))
    return ModelRef(_label(spec), path, spec)


def _label(spec: str) -> str:
    """A short readable name: the folder name, or its parent's when it is just ``model``."""
    path = Path(spec.rstrip("/"))
    if path.name == "model" and path.parent.name:
        return path.parent.name
    return path.name or spec


def run_config(root: str | Path) -> Config:
    """The frozen config of a run directory."""
    return from_dict(read_yaml(Path(root) / "config.yaml"))


def eval_config(config_file: str | None, fallback_run: str | None = None) -> Config:
    """The config for an evaluation command: ``--config``, else the run's own, else defaults."""
    if config_file:
        return load_config(config_file)
    if fallback_run and is_run_dir(fallback_run):
        return run_config(fallback_run)
    return load_config(None)


def parse_openai_spec(spec: str) -> tuple[str, str] | None:
    """``(model_name, base_url)`` of an ``openai:`` judge spec, or ``None`` for other specs.

    >>> parse_openai_spec("openai:gpt-4o@https://api.example.com/v1")
    ('gpt-4o', 'https://api.example.com/v1')
    >>> parse_openai_spec("runs/tiny") is None
    True
    """
    if not spec.startswith("openai:"):
        return None
    return parse_openai(spec, "judge")


def model_context(ref: ModelRef, config: Config) -> EvalContext:
    """A lazily loaded local model."""
    return EvalContext(config, ref.label, lambda: BACKEND_FACTORY(ref.path, config))


def judge_context(spec: str, config: Config, api_key_env: str = "OPENAI_API_KEY", references: Mapping[str, str] | None = None) -> EvalContext | FixedJudge:
    """A judge from its spec: an ``openai:`` endpoint, ``function:``/``reward_model:`` (scalar
    judges of ``judging.kinds``; a function gets ``references[prompt]``) or a model spec."""
    kind, name = split_judge_spec(spec)
    if kind in ("function", "reward_model"):
        return fixed_judge(kind, name, config, lambda stage, *chunk: stable_seed(config.seed, "eval", stage, *chunk), references or {}, BACKEND_FACTORY)
    remote = parse_openai_spec(spec)
    if remote is None:
        return model_context(resolve(spec), config)
    name, url = remote
    b = config.backend

    def make() -> Backend:
        from srlm.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(url, name, api_key_env=api_key_env, timeout_s=b.timeout_s, max_retries=b.max_retries, concurrency=b.concurrency)

    return EvalContext(config, f"openai:{name}", make)


def work_file(out: Path, kind: str, *identity: object) -> Path:
    """A resumable log beside ``out``, named by what produced it.

    The name holds a hash of ``identity`` (model, data, decoding): rerunning the same command
    resumes, while changing any of them starts a new file instead of mixing old rows in.
    """
    digest = hashlib.sha256(json.dumps([str(part) for part in identity]).encode()).hexdigest()[:10]
    return out.parent / f"{out.stem}.work" / f"{kind}-{digest}.jsonl"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (part of a work file's identity)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
