"""Reports: one result model, many renderers (terminal, JSON, JUnit XML, Markdown, HTML)."""

from __future__ import annotations

from . import html, json_report, junit, markdown, terminal
from .json_report import parse_report
from .model import SCHEMA, Cell, Report, Summary, verdict_for

FORMATS: tuple[str, ...] = ("terminal", "json", "junit", "markdown", "html")


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """Render `report` in one of FORMATS; `color` and `width` matter only to "terminal"."""
    if fmt == "terminal":
        return terminal.render(report, color=color, width=width)
    renderers = {"json": json_report.render, "junit": junit.render, "markdown": markdown.render, "html": html.render}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


__all__ = ["FORMATS", "SCHEMA", "Cell", "Report", "Summary", "parse_report", "render", "verdict_for"]
