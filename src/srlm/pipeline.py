"""The whole method: M1 = SFT(seed); then for t = 1..T, each stage runs unless its output exists.

    seed data ─sft─▶ M1 ─┐  for t = 1..T
                         ▼
    eval M(t) ─▶ prompts ─▶ candidates ─▶ judgments ─▶ pairs ─▶ [meta-judgments] ─▶ train ─▶ M(t+1)
    and last, eval M(T+1)

``ITERATION_STAGES`` holds that order once; each entry reads the outputs of the stages before
it. Meta-judgments (Meta-Rewarding only) run after pairs because they add judge pairs to the
actor pairs that training receives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srlm.backends.base import Backend
from srlm.config import Config, for_iteration, from_dict, to_dict
from srlm.errors import UserError
from srlm.records import SeedBundle
from srlm.runtime import console, distributed
from srlm.runtime.checkpoint import verify_run
from srlm.runtime.model_card import write_model_card
from srlm.runtime.rundir import RunDir, RunLock, model_done, run_dir_for, write_yaml
from srlm.runtime.tracking import Tracker
from srlm.stages import candidates, evaluate, judgments, meta_judgments, pairs, prompts, seed_data, sft, train
from srlm.stages.common import PipelineStop, StageContext  # noqa: F401 (PipelineStop re-exported)

log = logging.getLogger("srlm")

BackendFactory = Callable[[Path, Config], Backend]


def default_backend_factory(model_dir: Path, config: Config) -> Backend:
    """The configured generation engine over the checkpoint in ``model_dir``."""
    from srlm.backends import make_backend

    return make_backend(model_dir, config)


def preflight(config: Config) -> list[str]:
    """What ``srlm validate`` checks beyond types and ranges, without a GPU or a model load.

    Every model the config names resolves locally (a directory, or a repo id in the local
    Hugging Face cache), every seed file exists and parses (file:line on the first bad row),
    every template exists and holds its fields, and every tracker of ``report_to`` is
    installed. Raises ``UserError`` at the first problem;
    returns one line per check passed.
    """
    from srlm.runtime.models import locate_model
    from srlm.runtime.tracking import check_installed

    done = [f"model {config.model}: {locate_model(config.model)}"]
    for key, spec in _extra_models(config):
        done.append(f"{key} {spec}: {locate_model(spec)}")
    done += seed_data.check_sources(config)
    done += check_templates(config)
    if config.prompt_gen.pool_file:
        from srlm.data.prompt_pool import read_pool_file

        rows, _ = read_pool_file(config.prompt_gen.pool_file)
        done.append(f"prompt_gen.pool_file {config.prompt_gen.pool_file}: {len(rows)} distinct prompts")
    done += check_installed(config.report_to)
    done += check_judges(config)
    return done


def check_judges(config: Config) -> list[str]:
    """``judge.spec`` and a reward-model or function ``eval.win_rate_judge`` name something usable:
    the function imports and takes (prompt, response, reference), the reward model is a
    sequence classifier (``judging.kinds.check_spec``; no model is loaded)."""
    from srlm.judging.kinds import check_spec, split_judge_spec

    done = []
    if config.judge.kind != "self":
        done.append(check_spec(config.judge.kind, config.judge.spec))
    kind, spec = split_judge_spec(config.eval.win_rate_judge)
    if config.eval.win_rate_prompts > 0 and kind in ("function", "reward_model"):
        done.append(check_spec(kind, spec, "eval.win_rate_judge"))
    return done


def _extra_models(config: Config) -> list[tuple[str, str]]:
    """Models named besides ``model``: a fixed prompt writer, a local head-to-head judge.

    The judge is read as ``evaluation.win_rate`` reads it: ``M1``/``current`` are the run's own
    models, an ``openai:`` spec is a server (a malformed one is an error here already), and a
    run directory means its latest model, found when the evaluation runs.
    """
    from srlm.evaluation.judges import is_run_dir, parse_openai_spec
    from srlm.judging.kinds import split_judge_spec

    found = []
    if config.prompt_gen.generator != "current":
        found.append(("prompt_gen.generator", config.prompt_gen.generator))
    kind, judge = split_judge_spec(config.eval.win_rate_judge)
    if config.eval.win_rate_prompts > 0 and kind == "openai":
        parse_openai_spec(judge)  # a malformed spec is an error here already
    if config.eval.win_rate_prompts > 0 and kind == "model" and judge not in ("M1", "current") and not is_run_dir(judge):
        found.append(("eval.win_rate_judge", judge))
    return found


def check_templates(config: Config) -> list[str]:
    """The judge template (and the meta-judge's for Meta-Rewarding) exist and hold their fields."""
    from srlm.judging.templates import load_template

    wanted = [("judge.template", config.judge.template, ("prompt", "response"))]
    if config.method == "meta_rewarding":
        wanted.append(("meta.template", config.meta.template, ("prompt", "response", "judgment_a", "judgment_b")))
    for key, name, fields in wanted:
        try:
            load_template(name, fields)
        except UserError as exc:
            raise UserError(f"config key '{key}': {exc}") from None
    return [f"{key} {name}: holds {', '.join('{' + f + '}' for f in fields)}" for key, name, fields in wanted]


# Keys that change how a run is watched, not what it computes: a continued run may change them.
NOT_EXPERIMENT = ("report_to",)


def prepare(config: Config, force: bool = False) -> RunDir:
    """The run directory, with its config frozen at the first start.

    A different config on an existing run is refused unless ``force``: mixing settings inside
    one run would make its files describe no single experiment (``NOT_EXPERIMENT`` keys aside).
    """
    run = run_dir_for(config.runs_dir, config.name)
    frozen = to_dict(config)
    if run.config.exists():
        previous = _frozen_config(run.config)
        changed = [key for key in _changed_keys(to_dict(previous), frozen) if key not in NOT_EXPERIMENT]
        if changed and not force:
            raise UserError(f"{run.config}: the config differs from this run's ({', '.join(changed[:5])}); use --force to continue with the new one, or a new name")
    write_yaml(run.config, frozen)
    return run


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def _frozen_config(path: Path) -> Config:
    """The config a run was started with; a damaged or foreign one is named, never overwritten."""
    from srlm.config import read_yaml

    data = read_yaml(path)  # file:line for YAML that does not parse
    try:
        return from_dict(data)
    except UserError as exc:
        raise UserError(f"{path}: this run's frozen config is not valid ({exc}); restore it, or start a new run (another name)") from None


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def run(config: Config, force: bool = False, backend_factory: BackendFactory = default_backend_factory) -> RunDir:
    """Run (or continue) the whole pipeline; returns the run directory.

    Everything logged meanwhile goes to ``run.log`` in the run directory (``run.rank<k>.log``
    for the other processes of a multi-process run); the console gets a banner, one line per
    stage and a summary (``srlm.runtime.console``).
    """
    from srlm.runtime.models import resolve_model
    from srlm.runtime.resources import set_threads
    from srlm.runtime.tracking import check_installed

    run_dir = run_dir_for(config.runs_dir, config.name)
    banner = console.banner(run_dir.root, config, run_dir.config.exists())
    set_threads(config.threads)
    distributed.init()  # several processes (torchrun, accelerate launch) join one group
    # A model that does not exist is refused before anything is written (the main process
    # converts the embedded one once; the others then find it).
    distributed.main_first(resolve_model, config.model)
    check_templates(config)  # a missing or incomplete template fails now, not after generation
    check_installed(config.report_to)  # so does a tracker whose package is missing
    check_judges(config)  # so does a judge function that does not import or a reward model that is none
    with _locked(run_dir):
        # The config is compared and frozen under the lock, so a refused second process
        # (even with --force) never rewrites the config of a run in progress.
        distributed.on_main(prepare, config, force)
        verify_run(run_dir)  # a damaged checkpoint is named now, not when it is loaded hours later
        log_name = "run.log" if distributed.is_main() else f"run.rank{distributed.rank()}.log"
        with console.run_log(run_dir.root / log_name, banner) as warned, _tracker(config, run_dir) as tracker:
            started = time.time()
            _run_all(config, run_dir, backend_factory, tracker)
            _summary(config, run_dir, time.time() - started, warned.count)
    distributed.shutdown()
    return run_dir


def _run_all(config: Config, run_dir: RunDir, backend_factory: BackendFactory, tracker: Tracker) -> None:
    """Seed data, M1, every iteration, the last model's evaluation; one console line per stage."""
    clock = console.Clock(config.iterations, [s.name for s in ITERATION_STAGES if s.only_for in (None, config.method)], config.eval.judge_metrics)
    with clock.stage(0, "seed_data") as info:
        info["ran"] = not (run_dir.data / "stats.json").exists()
        seeds = distributed.main_first(seed_data.run, config, run_dir)
        info["rows"] = len(seeds["sft"])
    clock.evaluate = config.eval.judge_metrics and bool(seeds["eft_heldout"])  # as _evaluate decides
    with clock.stage(0, "sft") as info:
        info["ran"] = not model_done(run_dir.model(1))
        info["rows"] = len(seeds["sft"])
        sft.run(config, run_dir, seeds["sft"], tracker)
    for t in range(1, config.iterations + 1):
        run_iteration(for_iteration(config, t), run_dir, t, seeds, backend_factory, tracker, clock)
    _evaluate(config, run_dir, config.iterations + 1, seeds, backend_factory, clock=clock)
    _track_last(tracker, run_dir, config.iterations + 1)


def _summary(config: Config, run_dir: RunDir, seconds: float, warnings: int) -> None:
    """The last console line(s): time, final model, its judge accuracy, where the log is."""
    last = config.iterations + 1
    line = f"srlm: done in {console.duration(seconds)} · final model M{last}: {run_dir.model(last)}"
    if run_dir.eval(last).exists():
        judge = _read_json(run_dir.eval(last)).get("judge", {})
        if judge.get("pairwise_accuracy") is not None:  # None: no held-out pair the judge could rank
            line += f" · judge pairwise accuracy {judge['pairwise_accuracy']:.3f}"
    log.info("run finished in %.0f s: %s", seconds, run_dir.root)
    console.CONSOLE.info("%s · %s, all in %s", line, console.plural(warnings, "warning"), run_dir.root / "run.log")


@contextmanager
def _tracker(config: Config, run_dir: RunDir) -> Iterator[Tracker]:
    """The run's experiment tracker (``report_to``), closed however the run ends."""
    from srlm.runtime.tracking import open_tracker, replay

    tracker = open_tracker(config.report_to, run_dir.root, config.name, distributed.is_main())
    replay(tracker, run_dir.root)  # what finished before (another start, or before report_to)
    try:
        yield tracker
    finally:
        tracker.close()


def _track_last(tracker: Tracker, run_dir: RunDir, t: int) -> None:
    """The last model's eval.json, at the step after its training (again on a rerun: replaced
    or skipped by the tracker, never doubled)."""
    from srlm.runtime.tracking import iteration_metrics, segment_start

    if tracker.active and run_dir.eval(t).exists():
        start = segment_start(run_dir.root, t)
        tracker.begin(start)
        tracker.log(iteration_metrics(run_dir.root, t), start)


@contextmanager
def _locked(run_dir: RunDir) -> Iterator[None]:
    """The run lock, held by the main process for all (the other processes work under it)."""
    lock = RunLock(run_dir.lock)
    distributed.on_main(lock.__enter__)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)  # releases only where it was taken


@dataclass(frozen=True)
class Stage:
    """One step of an iteration: ``run(ctx, outputs)`` returns its rows, stored under ``name``.

    ``outputs`` holds the seed bundle under "seeds" and every earlier stage's rows by name.
    """

    name: str
    run: Callable[[StageContext, dict[str, Any]], Any]
    only_for: str | None = None  # a method name: the stage runs for that method only


def _train(ctx: StageContext, out: dict[str, Any]) -> Any:
    """DPO on the actor pairs, plus the judge pairs where meta-judgments ran (or SFT on seed + positives)."""
    return train.run(ctx, out["pairs"] + out.get("meta_judgments", []), seed_sft=out["seeds"]["sft"])


ITERATION_STAGES: tuple[Stage, ...] = (
    Stage("prompts", lambda ctx, out: prompts.run(ctx, out["seeds"]["ift"])),
    Stage("candidates", lambda ctx, out: candidates.run(ctx, out["prompts"])),
    Stage("judgments", lambda ctx, out: judgments.run(ctx, out["candidates"])),
    Stage("pairs", lambda ctx, out: distributed.main_first(pairs.run, ctx, out["candidates"], out["judgments"])),
    Stage("meta_judgments", lambda ctx, out: meta_judgments.run(ctx, out["candidates"], out["judgments"]), only_for="meta_rewarding"),
    Stage("train", _train),
)


def run_iteration(config: Config, run_dir: RunDir, t: int, seeds: SeedBundle, backend_factory: BackendFactory, tracker: Tracker | None = None, clock: console.Clock | None = None) -> None:
    """Iteration t: evaluate M(t), make its training data, train M(t+1).

    ``tracker``: the run's experiment tracker; ``clock``: times the stages for the console.
    """
    ctx = StageContext(config=config, run=run_dir, iteration=t, backend_factory=backend_factory, tracker=tracker)
    _evaluate(config, run_dir, t, seeds, backend_factory, ctx, clock)
    if model_done(run_dir.model(t + 1)):
        return
    outputs: dict[str, Any] = {"seeds": seeds}
    for stage in ITERATION_STAGES:
        if stage.only_for in (None, config.method):
            with _timed(clock, t, stage.name) as info:
                recorded = ctx.records
                outputs[stage.name] = stage.run(ctx, outputs)
                # A stage that finds its file done records nothing: no line, no time measured.
                info.update(ran=ctx.records > recorded, rows=_rows(outputs[stage.name]))
    ctx.release()


def _timed(clock: console.Clock | None, t: int, name: str) -> Any:
    """``clock.stage(t, name)``, or a stand-in that times nothing (a caller without a clock)."""
    return clock.stage(t, name) if clock is not None else nullcontext({})


def _rows(output: Any) -> int | None:
    """How many rows a stage made: its rows, or the training stats' row or pair count."""
    if isinstance(output, list):
        return len(output)
    if isinstance(output, dict):
        return output.get("pairs", output.get("rows"))
    return None


def _evaluate(config: Config, run_dir: RunDir, t: int, seeds: SeedBundle, backend_factory: BackendFactory, ctx: StageContext | None = None, clock: console.Clock | None = None) -> None:
    """Write ``M<t>/eval.json`` once (judge metrics on held-out EFT data)."""
    if run_dir.eval(t).exists():
        # A kill between eval.json and the card's rewrite left the card without the metrics.
        if model_done(run_dir.model(t)):
            distributed.on_main(write_model_card, run_dir, t)
        return
    if not config.eval.judge_metrics or not seeds["eft_heldout"]:
        return
    own = ctx is None  # the final model's evaluation: nothing runs after it
    ctx = ctx or StageContext(config=config, run=run_dir, iteration=t, backend_factory=backend_factory)
    with _timed(clock, t, "eval") as info:
        info["rows"] = len(seeds["eft_heldout"])
        evaluate.run(ctx, seeds)
    if not own and not model_done(run_dir.model(t + 1)):
        return  # keep the loaded model for this iteration's stages
    # Released also after the last model: a vLLM server must not stay up after the run.
    ctx.release()


STAGE_FILES = ("prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "meta_judgments.jsonl", "pairs.jsonl", "judge_pairs.jsonl", "positives.jsonl")


def status(run_dir: RunDir) -> list[dict]:
    """One row per model and stage: what exists and how many rows it holds."""
    rows = [{"step": "seed data", "done": (run_dir.data / "stats.json").exists(), "rows": _count(run_dir.data / "sft.jsonl")}]
    t = 1
    while True:
        model, folder = run_dir.model(t), run_dir.iteration(t)
        if not model.exists() and not folder.exists() and t > 1:
            break
        rows.append({"step": f"M{t}", "done": model_done(model), "rows": None, "eval": run_dir.eval(t).exists()})
        if not folder.exists():
            break
        for name in STAGE_FILES:
            final, partial = folder / name, folder / (name + ".partial")
            if final.exists() or partial.exists():
                rows.append({"step": f"iter{t}/{name}", "done": final.exists(), "rows": _count(final if final.exists() else partial)})
        t += 1
    return rows


def _count(path: Path) -> int | None:
    if not path.exists():
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())
