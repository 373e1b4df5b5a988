"""`looplab compare` in every format: one table per engine (and per service of a lab file),
placements as rows, vantages as columns, each cell the states of the listeners in order;
a cell that differs between engines is marked; every row ends with its lesson."""

from __future__ import annotations

import html
import json
from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from ..report.terminal import text_console
from .model import COLUMNS, CompareCell, CompareReport, CompareRow, Comparison

SCHEMA = "looplab/compare@1"
FORMATS = ("terminal", "json", "markdown", "html")
DIFFERS = "≠"  # marks a cell whose state differs between engines


def render(report: CompareReport, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "terminal":
        return terminal(report, color=color, width=width or 120)
    return {"json": to_json, "markdown": markdown, "html": to_html}[fmt](report)


def cell_text(cell: CompareCell | None) -> str:
    """`open`, `closed (expected open)`, or `·` when nothing was dialled."""
    if cell is None or cell.state is None:
        return "·"
    if cell.verdict not in (None, "pass", "flaky"):
        return f"{cell.state} (expected {cell.expected})"
    return cell.state


def _cells(comp: Comparison, row: CompareRow, column: str, diffs: set) -> list[tuple[str, bool, CompareCell | None]]:
    """(text, differs between engines, cell) per listener of one table cell."""
    return [
        (cell_text(c := row.cell(url, column)), (comp.service or "", row.placement, url, column) in diffs, c)
        for url in comp.listeners
    ]


def _title(comp: Comparison) -> str:
    engine = f"{comp.engine.kind} {comp.engine.version}" if comp.engine else "engine unknown"
    mode = " rootless" if comp.engine and comp.engine.rootless else ""
    what = f"service {comp.service}: " if comp.service else ""
    return f"{what}{', '.join(comp.listeners)} · {comp.context} · {engine}{mode}"


def terminal(report: CompareReport, *, color: bool, width: int) -> str:
    diffs = set(report.differences)
    console = text_console(width, color=color)
    for comp in report.comparisons:
        table = Table(title=_title(comp), title_justify="left", show_lines=True)
        table.add_column("placement \\ from", style="bold")
        table.add_column("listener", style="dim")
        for column in COLUMNS:
            table.add_column(column)
        listeners = Text("\n".join(_short(url) for url in comp.listeners))
        for row in comp.rows:
            if row.skipped:
                table.add_row(row.placement, "", Text(row.skipped, style="dim"), *[""] * (len(COLUMNS) - 1))
                continue
            cells = []
            for column in COLUMNS:
                parts = [
                    Text(f"{DIFFERS} " if differs else "", style="bold yellow")
                    + Text(text, style=_style(cell, differs))
                    for text, differs, cell in _cells(comp, row, column, diffs)
                ]
                cells.append(Text("\n").join(parts))
            table.add_row(row.placement, listeners, *cells)
        console.print(table)
        for row in comp.rows:
            if not row.skipped:
                console.print(Text.assemble((f"{row.placement}: ", "bold"), (row.lesson, "italic")))
        console.print(Text(f"launcher {comp.launcher or 'unknown'} · {comp.duration_s:.1f}s", style="dim"))
        for warning in comp.warnings:
            console.print(Text.assemble(("warning: ", "yellow"), warning))
        console.print()
    if report.differences:
        line = f"{len(report.differences)} cell(s) differ between the engines (marked {DIFFERS})"
        console.print(Text(line, style="bold yellow"))
    return console.file.getvalue()  # type: ignore[attr-defined]


def _short(url: str) -> str:
    """`tcp 127.0.0.1:62893` for `tcp://127.0.0.1:62893`."""
    scheme, _, rest = url.partition("://")
    return f"{scheme} {rest}"


def _style(cell: CompareCell | None, differs: bool) -> str:
    if cell is None or cell.state is None:
        return "dim"
    if cell.verdict not in (None, "pass", "flaky"):
        return "bold red"
    return ("bold " if differs else "") + ("green" if cell.state == "open" else "")


def to_json(report: CompareReport) -> str:
    data = {
        "schema": SCHEMA,
        "columns": list(COLUMNS),
        "comparisons": [
            {
                "context": c.context,
                "service": c.service,
                "engine": asdict(c.engine) if c.engine else None,
                "launcher": c.launcher,
                "listeners": list(c.listeners),
                "duration_s": c.duration_s,
                "warnings": list(c.warnings),
                "rows": [
                    {
                        "placement": r.placement,
                        "how": r.how,
                        "lesson": r.lesson,
                        "skipped": r.skipped,
                        "cells": [asdict(cell) for cell in r.cells],
                    }
                    for r in c.rows
                ],
            }
            for c in report.comparisons
        ],
        "differences": [
            {"service": s or None, "placement": p, "listener": lst, "column": col}
            for s, p, lst, col in report.differences
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def markdown(report: CompareReport) -> str:
    diffs = set(report.differences)
    out = []
    for comp in report.comparisons:
        out += [f"### {_title(comp)}", "", "| placement | " + " | ".join(COLUMNS) + " | lesson |"]
        out.append("|---" * (len(COLUMNS) + 2) + "|")
        for row in comp.rows:
            if row.skipped:
                out.append(f"| {row.placement} | " + " | ".join(["·"] * len(COLUMNS)) + f" | {row.skipped} |")
                continue
            cols = []
            for column in COLUMNS:
                cols.append(
                    "<br>".join(f"**{DIFFERS} {t}**" if d else t for t, d, _ in _cells(comp, row, column, diffs))
                )
            out.append(f"| {row.placement} | " + " | ".join(cols) + f" | {row.lesson} |")
        out += ["", f"launcher {comp.launcher or 'unknown'} · {comp.duration_s:.1f}s", ""]
        out += [f"- warning: {w}" for w in comp.warnings]
        out.append("")
    if report.differences:
        out.append(f"**{len(report.differences)} cell(s) differ between the engines** (marked {DIFFERS}).")
    return "\n".join(out).rstrip() + "\n"


def to_html(report: CompareReport) -> str:
    diffs = set(report.differences)
    e = html.escape
    style = (
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}.open{color:#070}"
        ".bad{color:#b00;font-weight:bold}.differs{background:#ffd}.lesson{font-style:italic}"
    )
    parts = [f"<!doctype html><meta charset=utf-8><title>looplab compare</title><style>{style}</style>"]
    for comp in report.comparisons:
        parts.append(f"<h3>{e(_title(comp))}</h3><table><tr><th>placement</th>")
        parts += [f"<th>{e(c)}</th>" for c in COLUMNS] + ["<th>lesson</th></tr>"]
        for row in comp.rows:
            parts.append(f"<tr><th>{e(row.placement)}</th>")
            if row.skipped:
                parts.append(f"<td colspan={len(COLUMNS)}>·</td><td class=lesson>{e(row.skipped)}</td></tr>")
                continue
            for column in COLUMNS:
                cells = _cells(comp, row, column, diffs)
                klass = " differs" if any(d for _, d, _ in cells) else ""
                inner = "<br>".join(f"<span class={_klass(c)}>{e(t)}</span>" for t, _, c in cells)
                parts.append(f"<td class='{klass.strip()}'>{inner}</td>")
            parts.append(f"<td class=lesson>{e(row.lesson)}</td></tr>")
        parts.append("</table>")
        parts += [f"<p>warning: {e(w)}</p>" for w in comp.warnings]
    if report.differences:
        parts.append(f"<p><b>{len(report.differences)} cell(s) differ between the engines</b></p>")
    return "\n".join(parts) + "\n"


def _klass(cell: CompareCell | None) -> str:
    if cell is None or cell.state is None:
        return "none"
    if cell.verdict not in (None, "pass", "flaky"):
        return "bad"
    return "open" if cell.state == "open" else "state"
