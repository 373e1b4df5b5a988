"""A self-contained HTML page: inline CSS, no scripts, no external assets; every value escaped."""

from __future__ import annotations

from html import escape

from ..domain import Cell, Report
from . import matrix

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em;margin:0 0 .2em}
.meta{color:#666;margin:0 0 1em}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;white-space:nowrap}
thead th{background:#f3f3f3}
tbody th{background:#fafafa}
code{font:13px ui-monospace,monospace}
.open{color:#17692c}.pass{color:#555}.none{color:#bbb;text-align:center}
.flaky{color:#8a6100;background:#fff6d5}
.fail{color:#a40000;background:#fde8e8;font-weight:bold}
.ok{color:#17692c}.bad{color:#a40000}
.warn{background:#fff6d5;border-left:4px solid #e0b000;padding:.4em .8em;margin:.3em 0}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.3em 0 1em 1.2em}
dt{color:#666}dd{margin:0}
""".strip()


def _td(cell: Cell | None) -> str:
    if cell is None:
        return f'<td class="none">{matrix.NOT_PROBED}</td>'
    if cell.flaky:
        return f'<td class="flaky">{escape(matrix.cell_text(cell))}</td>'
    if cell.passed:
        css = "open" if cell.state == "open" else "pass"
        return f'<td class="{css}">{escape(cell.state)}</td>'
    return f'<td class="fail">{escape(matrix.cell_text(cell))} {escape(matrix.marker(cell))}</td>'


def _table(report: Report) -> list[str]:
    cols = matrix.columns(report)
    g = matrix.grid(report)
    out = [
        "<table>",
        "<thead><tr><th>from \\ to</th>"
        + "".join(f"<th><code>{escape(c.label)}</code></th>" for c in cols)
        + "</tr></thead>",
        "<tbody>",
    ]
    for vantage in matrix.rows(report):
        out.append(
            f"<tr><th><code>{escape(vantage)}</code></th>" + "".join(_td(g.get((vantage, c))) for c in cols) + "</tr>"
        )
    return out + ["</tbody>", "</table>"]


def _failure(cell: Cell) -> list[str]:
    head = (
        f"<h3><code>{escape(cell.vantage)}</code> → <code>{escape(cell.target)}</code> "
        f"({escape(cell.proto)}, <code>{escape(matrix.endpoint(cell))}</code>): "
        f'<span class="bad">{escape(cell.state)}, expected {escape(cell.expected)} · '
        f"{escape(matrix.marker(cell) or 'FLAKY')}</span></h3>"
    )
    facts = matrix.failure_facts(cell) + ([("reproduce", cell.reproduce)] if cell.reproduce else [])
    rows = [
        f"<dt>{label}</dt><dd>{f'<code>{escape(v)}</code>' if label in ('cause', 'reproduce') else escape(v)}</dd>"
        for label, v in facts
    ]
    return [head] + (["<dl>", *rows, "</dl>"] if rows else [])


def render(report: Report) -> str:
    """The report as one HTML document."""
    title = f"looplab {report.lab}: {matrix.summary_line(report)}"
    meta = matrix.engine_line(report) + (f" · run {report.run_id}" if report.run_id else "")
    status = "ok" if report.ok else "bad"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f'<h1 class="{status}">{"✅" if report.ok else "❌"} {escape(report.lab)}</h1>',
        f'<p class="meta">{escape(meta)}</p>',
        *([f'<p class="meta">{escape(context)}</p>'] if (context := matrix.context_line(report)) else []),
    ]
    if report.cells:
        out += _table(report)
    out.append(f'<p class="{status}"><strong>{escape(matrix.summary_line(report))}</strong></p>')
    out += [f'<p class="warn">warning: {escape(w)}</p>' for w in report.warnings]
    failing = matrix.failing(report)
    if failing:
        out.append("<h2>Failures</h2>")
        for cell in failing:
            out += _failure(cell)
    flaky = matrix.flaky(report)
    if flaky:
        out.append("<h2>Flaky (failed once, then passed)</h2>")
        for cell in flaky:
            out += _failure(cell)
    return "\n".join(out + ["</body>", "</html>", ""])
