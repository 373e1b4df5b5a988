"""html.py: one self-contained, balanced page; everything escaped."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

from orchestrator.report import html

try:
    from .test_report_fixture import failing_report, seed_report
except ImportError:
    from test_report_fixture import failing_report, seed_report

VOID = {"meta", "br", "hr", "img", "link", "input"}


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _parse(text: str) -> _Balance:
    p = _Balance()
    p.feed(text)
    p.close()
    assert p.stack == []
    return p


def test_well_formed_and_self_contained() -> None:
    text = html.render(failing_report())
    assert text.startswith("<!DOCTYPE html>\n") and text.endswith("</html>\n")
    tags = _parse(text).tags
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert "http" not in text and "src=" not in text
    assert '<td class="fail">open ≠ closed EXPOSED</td>' in text
    assert '<td class="none">·</td>' in text
    assert "<h2>Failures</h2>" in text and "<code>looplab probe seed.yml --from peer --to app:62893</code>" in text
    assert (
        "<dt>cause</dt><dd><code>exposed</code></dd>\n"
        "<dt>found</dt><dd>app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it</dd>\n"
        "<dt>fix</dt><dd>bind app to 127.0.0.1, or expect open</dd>"
    ) in text


def test_escapes_everything() -> None:
    r = replace(failing_report(), lab="<b>lab</b>", warnings=('"><script>x</script>',))
    text = html.render(r)
    assert "<script>" not in text and "<b>" not in text
    assert "no reply within 1s &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;lab&lt;/b&gt;" in text
    _parse(text)


def test_passing_page_has_no_failures() -> None:
    text = html.render(seed_report())
    assert "Failures" not in text and "6 cells · 6 pass · 0 fail (0 exposed, 0 broken) · 1.20s" in text
