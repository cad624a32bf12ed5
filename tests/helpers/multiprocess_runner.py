"""One tiny srlm run, executed by every process of a torchrun job (tests/integration/test_two_process.py).

    python -m torch.distributed.run --nproc_per_node 2 -m tests.helpers.multiprocess_runner MODEL_DIR RUNS_DIR [key=value ...]

(from the repository root, which puts ``tests`` on the import path)

The scripted judge lives in tests/helpers/scripted.py and cannot be handed to another process, so each
process builds the same config and backend factory here. ``SRLM_TEST_JUDGES=meta`` scripts the
meta-judge too (the Meta-Rewarding loop test's judges). ``SRLM_TEST_CRASH_RANK=k`` makes
rank k fail on its ``SRLM_TEST_CRASH_AFTER``-th candidate generation (a crash inside a stage).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.helpers.scripted import crashing_factory, scripted_factory, tiny_overrides


def main(argv: list[str]) -> None:
    from srlm import pipeline
    from srlm.config import load_config

    model_dir, runs_dir, *extra = argv
    config = load_config(None, tiny_overrides(Path(model_dir), Path(runs_dir), *extra))
    factory = scripted_factory
    if os.environ.get("SRLM_TEST_JUDGES") == "meta":
        from tests.helpers.scripted import meta_scripted_factory as scripted_judges_factory

        factory = scripted_judges_factory
    if os.environ.get("SRLM_TEST_CRASH_RANK") == os.environ.get("RANK", "0"):
        factory = crashing_factory(int(os.environ.get("SRLM_TEST_CRASH_AFTER", "1")), factory)
    pipeline.run(config, backend_factory=factory)


if __name__ == "__main__":
    main(sys.argv[1:])
