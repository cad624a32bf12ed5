"""The report page in a real browser (headless Chromium): every plot decodes and shows, and the
model text that tries to inject markup stays text. Skipped where Chromium is not installed
(Debian/Ubuntu: ``apt-get install -y chromium``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from matplotlib import image

from srlm.report import write_report
from tests.helpers.fake_run import make_fake_run

CHROMIUM = Path("/usr/bin/chromium")
FIGURES = 10  # every plot of the full fake run (see tests/unit/report/test_report_write.py)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")


def chromium(tmp_path: Path, page: Path, *args: str) -> str:
    """Run headless Chromium on ``page`` with a throw-away profile; returns its stdout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args, page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(make_fake_run(tmp_path_factory.mktemp("browser") / "run"))[0]


def test_every_plot_decodes_and_no_injected_markup_runs(page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, page, "--dump-dom", "--virtual-time-budget=5000")
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    # The page's own script counts images with naturalWidth > 0 once they have loaded.
    assert f'data-images-loaded="{FIGURES}"' in body.group(0)
    assert f'data-images-total="{FIGURES}"' in body.group(0)
    assert "data-pwned" not in body.group(0)  # the onerror handler in model text never ran
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_screenshot_shows_the_plots(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,3000")
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    # Not a blank page: plots bring many coloured (non-grey) pixels, e.g. the bars.
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    assert colourful.mean() > 0.02, f"only {colourful.mean():.3%} coloured pixels"
    assert pixels.std() > 0.1
