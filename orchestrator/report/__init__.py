"""Renderers of a domain.Report (terminal, JSON, JUnit XML, Markdown, HTML), and the JSON parser."""

from __future__ import annotations

from ..domain import Report
from . import html, json_report, junit, markdown, terminal
from .json_report import SCHEMA, parse_report

FORMATS: tuple[str, ...] = ("terminal", "json", "junit", "markdown", "html")


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """Render `report` in one of FORMATS; `color` and `width` matter only to "terminal"."""
    if fmt == "terminal":
        return terminal.render(report, color=color, width=width)
    renderers = {"json": json_report.render, "junit": junit.render, "markdown": markdown.render, "html": html.render}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


__all__ = ["FORMATS", "SCHEMA", "parse_report", "render"]
