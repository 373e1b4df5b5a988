"""Markdown for CI step summaries: a verdict heading, the matrix as a GitHub table, failures."""

from __future__ import annotations

import re

from ..domain import Cell, Report
from . import matrix

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~@])")


def text(value: str) -> str:
    """Plain text made inert: markdown punctuation escaped, one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(value.split()))


def code(value: str) -> str:
    """A code span that holds any text (a fence longer than any backtick run inside)."""
    value = " ".join(value.split())
    fence = "`" * (max((len(run) for run in re.findall("`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _cell(cell: Cell | None) -> str:
    if cell is None:
        return matrix.NOT_PROBED
    if cell.flaky:
        return f"{code(cell.state)} {matrix.FLAKY_MARK} flaky"
    if cell.passed:
        return code(cell.state)
    return f"**{code(cell.state)} {matrix.NOT_EQUAL} {code(cell.expected)}** {matrix.marker(cell)}"


def _table(report: Report) -> list[str]:
    cols = matrix.columns(report)
    g = matrix.grid(report)
    lines = ["| from \\\\ to | " + " | ".join(code(c.label) for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for vantage in matrix.rows(report):
        lines.append(f"| {code(vantage)} | " + " | ".join(_cell(g.get((vantage, c))) for c in cols) + " |")
    return [_pipe_safe(line) for line in lines]


def _pipe_safe(line: str) -> str:
    """Escape pipes inside code spans (GitHub splits table cells on them even there)."""
    return re.sub(r"(`+)(.*?)\1", lambda m: m.group(0).replace("|", "\\|"), line)


def _failure(cell: Cell) -> list[str]:
    lines = [
        f"- **{code(cell.vantage)} → {code(cell.target)}** ({cell.proto}, {code(matrix.endpoint(cell))}): "
        f"observed {code(cell.state)}, expected {code(cell.expected)} — **{matrix.marker(cell) or 'FLAKY'}**"
    ]
    for label, value in matrix.failure_facts(cell):
        lines.append(f"  - {label}: {code(value) if label == 'cause' else text(value)}")
    if cell.reproduce:
        lines.append(f"  - reproduce: {code(cell.reproduce)}")
    return lines


def render(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    mark = "✅" if report.ok else "❌"
    out = [
        f"## {mark} looplab {text(report.lab)}: {text(matrix.summary_line(report))}",
        "",
        f"{text(matrix.engine_line(report))}" + (f" · run {code(report.run_id)}" if report.run_id else ""),
        "",
    ]
    if context := matrix.context_line(report):
        out += [text(context), ""]
    if report.cells:
        out += _table(report) + [""]
    out += [f"> ⚠️ {text(w)}" for w in report.warnings]
    if report.warnings:
        out.append("")
    failing = matrix.failing(report)
    if failing:
        out += ["### Failures", ""]
        for cell in failing:
            out += _failure(cell)
        out.append("")
    flaky = matrix.flaky(report)
    if flaky:
        out += ["### Flaky (failed once, then passed)", ""]
        for cell in flaky:
            out += _failure(cell)
        out.append("")
    return "\n".join(out)
