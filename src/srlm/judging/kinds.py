"""Who judges (``judge.kind``): M(t) itself, a fixed model, a reward model, an endpoint or a function.

Every kind yields the same ``judgments.jsonl`` rows, stats, pairs and resume behaviour:

- ``self`` (SR, MR): M(t) with the judge prompt; the stage's own context judges.
- ``model``: a fixed local causal LM (``judge.spec``) with the judge prompt (RLAIF with a frozen
  judge); sampled, parsed and averaged exactly like ``self``.
- ``openai``: an OpenAI-compatible endpoint, ``openai:<model_name>@<base_url>``, with the judge
  prompt (the key comes from ``backend.api_key_env``).
- ``reward_model``: a sequence-classification reward model with one scalar output (MR section 4,
  StarlingRM-34B); its raw reward ``r`` becomes the score ``5 * sigmoid(r)`` (``reward_score``):
  monotone, so best and worst candidates are the reward's own, on the judge's 0-5 scale so that
  histograms and ``pairs.min_margin`` read the same way for every kind.
- ``function``: ``package.module:function(prompt, response, reference) -> float | None``; the
  reference is the seed's reference answer of the prompt (``None`` where there is none); a
  ``None`` result is "unscored" and counted like an unparsed judgment.

Scalar kinds (reward model, function) write one score per candidate: ``judgments`` is empty,
``scores`` holds the one value (``None`` = unscored) and ``mean_score`` equals it.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from srlm.backends.base import Backend
from srlm.config import Config
from srlm.errors import UserError
from srlm.records import JudgeItem

KINDS = ("self", "model", "reward_model", "openai", "function")
# ``openai:gpt-4o@https://api.example.com/v1``: the name is everything before the "@" that
# starts the URL (a URL with credentials is refused by the HTTP backend anyway).
OPENAI_SPEC = re.compile(r"^openai:(?P<name>.+?)@(?P<url>https?://\S+)$")
FUNCTION_SPEC = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_]\w*)$")

ScalarScorer = Callable[[Sequence[JudgeItem]], list[float | None]]


def split_judge_spec(text: str) -> tuple[str, str]:
    """``(kind, spec)`` of an evaluation judge written as one string (``eval.win_rate_judge``,
    ``--judge``): ``function:<module>:<fn>``, ``reward_model:<model>``, ``openai:<name>@<url>``
    (kept whole), ``model:<model>`` or a bare model spec.

    >>> split_judge_spec("function:srlm.judging.reference:rouge_l_reward")
    ('function', 'srlm.judging.reference:rouge_l_reward')
    >>> split_judge_spec("openai:gpt-4o@https://x/v1"), split_judge_spec("runs/tiny/M1/model")
    (('openai', 'openai:gpt-4o@https://x/v1'), ('model', 'runs/tiny/M1/model'))
    """
    for kind in ("function", "reward_model", "model"):
        if text.startswith(kind + ":"):
            return kind, text[len(kind) + 1 :]
    return ("openai", text) if text.startswith("openai:") else ("model", text)


def is_scalar(kind: str) -> bool:
    """Kinds that give a number per response, not a judgment text."""
    return kind in ("reward_model", "function")


def parse_openai(spec: str, key: str = "judge.spec") -> tuple[str, str]:
    """``(model_name, base_url)`` of ``openai:<model_name>@<base_url>``.

    >>> parse_openai("openai:gpt-4o@https://api.example.com/v1")
    ('gpt-4o', 'https://api.example.com/v1')
    """
    match = OPENAI_SPEC.match(spec)
    if match is None:
        raise UserError(f"{key} '{spec}': expected openai:<model_name>@<base_url>, e.g. openai:gpt-4o@https://api.openai.com/v1")
    return match.group("name"), match.group("url")


def load_function(spec: str, key: str = "judge.spec") -> Callable[[str, str, str | None], float | None]:
    """The callable ``package.module:function``, checked to take (prompt, response, reference)."""
    match = FUNCTION_SPEC.match(spec)
    if match is None:
        raise UserError(f"config key '{key}': {spec!r} is not 'package.module:function' (e.g. srlm.judging.reference:rouge_l_reward)")
    try:
        module = importlib.import_module(match.group("module"))
    except ImportError as exc:
        raise UserError(f"config key '{key}': cannot import module {match.group('module')!r} ({exc})") from None
    fn = getattr(module, match.group("name"), None)
    if not callable(fn):
        raise UserError(f"config key '{key}': module {match.group('module')!r} has no function {match.group('name')!r}")
    try:
        inspect.signature(fn).bind("prompt", "response", "reference")
    except TypeError:
        raise UserError(f"config key '{key}': {spec} must take (prompt, response, reference); its signature is {inspect.signature(fn)}") from None
    except ValueError:
        pass  # a builtin without a signature: called as given
    return fn


def function_scorer(fn: Callable, spec: str, references: Mapping[str, str]) -> ScalarScorer:
    """Scores of ``fn(prompt, response, reference)``: a finite number or ``None``, nothing else."""

    def score(items: Sequence[JudgeItem]) -> list[float | None]:
        return [_checked(fn(item["prompt"], item["response"], references.get(item["prompt"])), spec, item["id"]) for item in items]

    return score


def _checked(value: object, spec: str, item_id: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"judge.spec {spec}: returned {value!r} for {item_id}; a judge function returns a finite number or None")
    return float(value)


def reward_score(reward: float, max_score: int = 5) -> float:
    """A raw reward on the judge's scale: ``max_score * sigmoid(reward)`` (monotone, in (0, 5)).

    >>> reward_score(0.0), round(reward_score(3.0), 3), reward_score(-1000.0)
    (2.5, 4.763, 0.0)
    """
    if reward < -700:
        return 0.0  # exp overflows; the limit
    return max_score / (1.0 + math.exp(-reward))


def reward_model_scorer(model_dir: str, config: Config) -> tuple[ScalarScorer, Callable[[], None]]:
    """A scorer over a local reward model (loaded on first use) and a function that frees it."""
    from srlm.backends.reward_model import RewardModel

    loaded: list[RewardModel] = []

    def score(items: Sequence[JudgeItem]) -> list[float | None]:
        if not loaded:
            loaded.append(RewardModel(model_dir, config.dtype, config.trust_remote_code, config.backend.batch_size))
        return [reward_score(r) for r in loaded[0].rewards([(item["prompt"], item["response"]) for item in items])]

    def release() -> None:
        if loaded:
            loaded.pop().close()

    return score, release


@dataclass
class FixedJudge:
    """A ``JudgeContext`` for a judge other than M(t): a model on demand, or a scalar scorer.

    ``seeds`` is the caller's seed function, so a fixed judge samples with the seeds M(t)
    would have used (same chunks, same resume behaviour).
    """

    config: Config
    label: str
    seeds: Callable[..., int]
    make: Callable[[], Backend] | None = None
    scalar: ScalarScorer | None = None
    free: Callable[[], None] | None = None
    _backend: Backend | None = field(default=None, repr=False)

    @property
    def backend(self) -> Backend:
        if self.make is None:
            raise UserError(f"judge {self.label}: a scalar judge has no text backend")
        if self._backend is None:
            self._backend = self.make()
        return self._backend

    def seed(self, stage: str, *chunk: int) -> int:
        return self.seeds(stage, *chunk)

    def release(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        if self.free is not None:
            self.free()


def fixed_judge(kind: str, spec: str, config: Config, seeds: Callable[..., int], references: Mapping[str, str], factory: Callable[[Path, Config], Backend]) -> FixedJudge:
    """The judge of ``kind``/``spec`` (any kind but ``self``); ``factory`` loads local models."""
    label = f"{kind}:{spec}"
    if kind == "function":
        return FixedJudge(config, label, seeds, scalar=function_scorer(load_function(spec), spec, references))
    if kind == "reward_model":
        from srlm.runtime.models import resolve_model

        scorer, free = reward_model_scorer(resolve_model(spec), config)
        return FixedJudge(config, label, seeds, scalar=scorer, free=free)
    if kind == "openai":
        return FixedJudge(config, label, seeds, make=_openai_maker(spec, config))
    if kind == "model":
        from srlm.runtime.models import resolve_model

        return FixedJudge(config, label, seeds, make=lambda: factory(Path(resolve_model(spec)), config))
    raise UserError(f"judge kind {kind!r} is not one of {', '.join(k for k in KINDS if k != 'self')}")


def _openai_maker(spec: str, config: Config) -> Callable[[], Backend]:
    name, url = parse_openai(spec)
    b = config.backend

    def make() -> Backend:
        from srlm.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(url, name, api_key_env=b.api_key_env, timeout_s=b.timeout_s, max_retries=b.max_retries, concurrency=b.concurrency)

    return make


def check_spec(kind: str, spec: str, key: str = "judge.spec") -> str:
    """Pre-flight (``srlm validate``): the spec of ``kind`` names something usable, without loading a model."""
    if kind == "function":
        load_function(spec, key)
        return f"{key} {spec}: a function of (prompt, response, reference)"
    if kind == "openai":
        name, url = parse_openai(spec, key)
        return f"{key} {spec}: model {name} at {url}"
    from srlm.runtime.models import locate_model

    where = locate_model(spec)
    if kind == "reward_model":
        from srlm.backends.reward_model import check_reward_model_dir

        return f"{key} {spec}: {check_reward_model_dir(where, key)}"
    return f"{key} {spec}: {where}"


def seed_references(data_dir: Path) -> dict[str, str]:
    """Reference answer by prompt text, from a run's seed files (``data/ift*.jsonl``)."""
    from srlm.runtime.rundir import read_rows

    found: dict[str, str] = {}
    for name in ("ift.jsonl", "ift_heldout.jsonl"):
        if (data_dir / name).exists():
            found.update({row["prompt"]: row["response"] for row in read_rows(data_dir / name) if row.get("response")})
    return found
