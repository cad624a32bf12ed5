"""``srlm.report.render``: text from the run's files is escaped in both outputs, so model text
can neither run a script nor break the page's structure."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.fake_run import INJECTION


def test_model_text_is_escaped_everywhere(report: tuple[Path, str, str]) -> None:
    _, html, markdown = report
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/div&gt;&lt;img src=x onerror="
    for text in (html, markdown):
        assert escaped in text
        assert "alert(1)</script>" not in text and "<img src=x" not in text
        assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
        assert text.count("<pre>") == text.count("</pre>")  # a judgment's "</pre>" did not close one
    assert html.count("<div") == html.count("</div>")
    assert html.count("<script>") == 1  # the page's own image check, allowed by its CSP hash
    assert INJECTION not in html
