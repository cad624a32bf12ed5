"""``srlm run`` through the real CLI entry point, on the tiny model with the scripted judge
(tests/integration/test_console_tracking.py runs it in a fresh process: a quiet console changes
process-wide logging and tqdm settings).

    python -m tests.helpers.cli_run MODEL_DIR RUNS_DIR [-v] [key=value ...]

The scripted judge cannot be named on a command line, so the backend factory that
``pipeline.default_backend_factory`` looks up is replaced by it here, for this process only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import srlm.backends
from tests.helpers.scripted import scripted_factory, tiny_overrides


def main(argv: list[str]) -> int:
    from srlm.cli import main as srlm_main

    model_dir, runs_dir, *rest = argv
    flags = [arg for arg in rest if arg.startswith("-")]
    overrides = [arg for arg in rest if not arg.startswith("-")]
    srlm.backends.make_backend = scripted_factory
    return srlm_main([*flags, "run", "", *tiny_overrides(Path(model_dir), Path(runs_dir), *overrides)])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
