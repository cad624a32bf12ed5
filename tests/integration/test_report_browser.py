"""The report page in a real browser (headless Chromium): every plot decodes and shows, the texts
side by side are laid out in a row, the model text that tries to inject markup (in a pair and in
an answer) stays text, and the two-run comparison page shows its plots too. Skipped where Chromium is not installed
(Debian/Ubuntu: ``apt-get install -y chromium``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from matplotlib import image

from srlm.report import write_comparison, write_report
from srlm.report.texts import ANSWER_PROMPTS, JUDGED_PROMPTS
from tests.helpers.fake_run import make_fake_run

CHROMIUM = Path("/usr/bin/chromium")
FIGURES = 10  # every plot of the full fake run (see tests/unit/report/test_report_write.py)
# Side-by-side blocks: per answered prompt the answers and a verdict block for M2 and M3, and
# one block per judged EFT response (two responses per prompt in the fake run).
COLUMN_BLOCKS = ANSWER_PROMPTS * 3 + JUDGED_PROMPTS * 2

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
    assert "data-pwned" not in body.group(0)  # neither the onerror handler nor the script in model text ran
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "&lt;script&gt;document.body.setAttribute(\"data-pwned-answer\",\"1\")&lt;/script&gt;" in dom
    # The page's script also checks that the first two columns of each side-by-side block sit in one row.
    assert f'data-columns-total="{COLUMN_BLOCKS}"' in body.group(0)
    assert f'data-columns-in-a-row="{COLUMN_BLOCKS}"' in body.group(0)
    assert dom.count("<details>") >= 2  # long tables folded


def test_comparison_page_shows_its_plots(page: Path, tmp_path: Path) -> None:
    other = make_fake_run(tmp_path / "other")
    (other / "config.yaml").write_text("name: other\nmethod: meta_rewarding\n")
    html_path, _ = write_comparison(page.parent, other, tmp_path / "compare")
    dom = chromium(tmp_path, html_path, "--dump-dom", "--virtual-time-budget=5000")
    body = re.search(r"<body[^>]*>", dom)
    assert body and 'data-images-loaded="3"' in body.group(0) and 'data-images-total="3"' in body.group(0)


def test_screenshot_shows_the_plots(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,3000")
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    # Not a blank page: plots bring many coloured (non-grey) pixels, e.g. the bars.
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    assert colourful.mean() > 0.02, f"only {colourful.mean():.3%} coloured pixels"
    assert pixels.std() > 0.1
