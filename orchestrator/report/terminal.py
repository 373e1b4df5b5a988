"""The terminal report (rich): a matrix read at a glance, then one block per failing cell.

Layout is decided at render time from the width: the matrix when it fits, otherwise a
long table with one row per cell rather than a squashed matrix.
"""

from __future__ import annotations

from io import StringIO

from rich import box
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from ..domain import Cell, Report
from . import matrix

DEFAULT_WIDTH = 100
PLAIN_LISTING_CELLS = 3000  # above this many cells the listing is laid out here, not by rich
FAIL = "bold red"
FLAKY = "yellow"
ROW_HEADER = "from \\ to"
REPRODUCE = "  reproduce:"


def _state(cell: Cell) -> Text:
    """A cell as shown in the matrix: plain state for a pass, `open ≠ closed EXPOSED` for a failure."""
    if not cell.passed:
        return Text.assemble((matrix.cell_text(cell), FAIL), " ", (matrix.marker(cell), FAIL))
    if cell.flaky:
        return Text(matrix.cell_text(cell), style=FLAKY)
    return Text(cell.state, style="green" if cell.state == "open" else "dim")


def _matrix_width(report: Report) -> int:
    """Natural width of the matrix table: each column's widest text plus padding and a border."""
    g = matrix.grid(report)
    vantages = matrix.rows(report)
    width = 1 + max(cell_len(t) for t in [ROW_HEADER, *vantages]) + 3
    for col in matrix.columns(report):
        texts = [col.label] + [_state(g[(v, col)]).plain for v in vantages if (v, col) in g]
        width += max(cell_len(t) for t in texts) + 3
    return width


def _title(report: Report) -> Text:
    return Text.assemble((report.lab, "bold"), " · ", matrix.engine_line(report))


def _matrix_table(report: Report) -> Table:
    table = Table(title=_title(report), box=box.ROUNDED, header_style="bold", title_justify="left")
    table.add_column(ROW_HEADER, style="bold", no_wrap=True)
    cols = matrix.columns(report)
    for col in cols:
        table.add_column(col.label, no_wrap=True)
    g = matrix.grid(report)
    for vantage in matrix.rows(report):
        cells = [g.get((vantage, col)) for col in cols]
        table.add_row(vantage, *(_state(c) if c is not None else Text(matrix.NOT_PROBED, style="dim") for c in cells))
    return table


def _long_table(report: Report) -> Table:
    table = Table(
        title=_title(report),
        box=box.SIMPLE_HEAD,
        header_style="bold",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name in ("from", "to", "proto", "state", "expected", "verdict"):
        table.add_column(name, overflow="fold", no_wrap=name != "to")  # only targets may fold
    for c in matrix.ordered_cells(report):
        style = FAIL if not c.passed else ""
        verdict = Text(matrix.marker(c) or c.verdict, style=style or "dim")
        table.add_row(
            c.vantage,
            c.target,
            c.proto,
            _state(c) if c.passed else Text(c.state, FAIL),
            Text(c.expected, style=style),
            verdict,
        )
    return table


def _plain_listing(report: Report, *, color: bool) -> str:
    """The long table's columns as fixed-width text, for a matrix too big for rich's layout; a
    failing row in bold red when `color`."""
    cells = matrix.ordered_cells(report)
    rows = [("from", "to", "proto", "state", "expected", "verdict")]
    rows += [(c.vantage, c.target, c.proto, c.state, c.expected, matrix.marker(c) or c.verdict) for c in cells]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [_title(report).plain]
    for i, r in enumerate(rows):
        line = " ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=False)) + " " + r[5]
        failed = i > 0 and not cells[i - 1].passed
        lines.append(f"\x1b[1;31m{line}\x1b[0m" if color and failed else line)
    return "\n".join(lines) + "\n\n"


def _failure(cell: Cell) -> list[RenderableType]:
    style = FLAKY if cell.flaky else FAIL
    head = Text.assemble(
        ("~ " if cell.flaky else "✗ ", style),
        (f"{cell.vantage} → {cell.target}", "bold"),
        f" ({cell.proto}, {matrix.endpoint(cell)}): ",
        (f"{cell.state}, expected {cell.expected}", style),
        " · ",
        (matrix.marker(cell) or "FLAKY", style),
    )
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="dim", no_wrap=True, min_width=len(REPRODUCE))  # aligned with the reproduce line
    facts.add_column()
    for label, value in matrix.failure_facts(cell):
        facts.add_row(f"  {label}:", Text(value))
    return [head, facts] if facts.row_count else [head]


def text_console(width: int, *, color: bool) -> Console:
    """A console that renders into a string: ANSI colours exactly when `color` is true (the
    environment is ignored), never markup, emoji or highlighting taken from the data."""
    return Console(
        file=StringIO(),
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
    )


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """The report as terminal text; ANSI colours exactly when `color` is true (the environment is ignored)."""
    width = width or DEFAULT_WIDTH
    console = text_console(width, color=color)
    if not report.cells:
        console.print(_title(report))
    elif len(report.cells) > PLAIN_LISTING_CELLS:  # rich lays out ~2,000 table rows a second
        console.file.write(_plain_listing(report, color=color))  # type: ignore[attr-defined]
    elif _matrix_width(report) <= width:
        console.print(_matrix_table(report))
    else:
        console.print(_long_table(report))
        console.print()
    console.print(Text(matrix.summary_line(report), style="bold green" if report.ok else FAIL))
    if context := matrix.context_line(report):
        console.print(Text(context, style="dim"))
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    for cell in [*matrix.failing(report), *matrix.flaky(report)]:
        console.print()
        console.print(*_failure(cell), sep="\n")
        if cell.reproduce:  # never wrapped: it must paste as one command
            console.print(Text.assemble((f"{REPRODUCE} ", "dim"), (cell.reproduce, "cyan")), soft_wrap=True)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in text.splitlines())
