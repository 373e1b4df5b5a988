"""orchestrator.report.render: one entry point for every format."""

from __future__ import annotations

import pytest

from orchestrator.report import FORMATS, render

try:
    from .test_report_fixture import failing_report
except ImportError:
    from test_report_fixture import failing_report


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_text(fmt: str) -> None:
    text = render(failing_report(), fmt, color=False, width=100)
    assert text.endswith("\n") and "app:62893" in text


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        render(failing_report(), "yaml", color=False, width=None)
