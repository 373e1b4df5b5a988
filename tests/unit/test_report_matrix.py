"""matrix.py: row/column order, grid, cell text and the summary line."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.domain import Engine, Report
from orchestrator.report import matrix

try:
    from .test_report_fixture import _cell, failing_report, seed_report
except ImportError:  # tests/unit is not a package: pytest put it on sys.path
    from test_report_fixture import _cell, failing_report, seed_report


def _report(*cells: object) -> Report:
    return Report(lab="t", engine=Engine("docker", "28.2.2"), cells=tuple(cells))  # type: ignore[arg-type]


def test_rows_host_services_observers_outside() -> None:
    r = _report(
        *(
            _cell(v, "127.0.0.1:1", "closed", "closed")
            for v in ("@outside", "@lan", "peer", "host", "app", "@dmz", "peer")
        )
    )
    assert matrix.rows(r) == ["host", "peer", "app", "@lan", "@dmz", "@outside"]


def test_columns_grouped_by_kind_then_first_seen() -> None:
    r = _report(
        _cell("host", "host:62894", "closed", "closed", target_kind="published"),
        _cell("peer", "app:1", "closed", "closed"),
        _cell("app", "127.0.0.1:2", "open", "open"),
        _cell("app", "127.0.0.1:1", "open", "open"),
        _cell("app", "127.0.0.1:1", "open", "open", proto="udp"),
        _cell("host", "x:9", "open", "open", target_kind="explicit"),
        _cell("peer", "app:1", "closed", "closed"),
    )
    cols = matrix.columns(r)
    assert [(c.target, c.proto) for c in cols] == [
        ("127.0.0.1:2", "tcp"),
        ("127.0.0.1:1", "tcp"),
        ("127.0.0.1:1", "udp"),
        ("app:1", "tcp"),
        ("host:62894", "tcp"),
        ("x:9", "tcp"),
    ]
    assert [c.label for c in cols][1:3] == ["127.0.0.1:1", "127.0.0.1:1/udp"]


def test_grid_and_reading_order() -> None:
    r = failing_report()
    g = matrix.grid(r)
    assert len(g) == len(r.cells)
    assert [(c.vantage, c.target, c.proto) for c in matrix.failing(r)] == [
        ("app", "127.0.0.1:62893", "udp"),
        ("peer", "app:62893", "tcp"),
    ]
    assert [c.vantage for c in matrix.ordered_cells(r)] == ["host", "app", "app", "peer", "peer", "@lan", "@lan"]


def test_cell_text_and_marker() -> None:
    ok, bad = seed_report().cells[1], failing_report().cells[4]
    assert (matrix.cell_text(ok), matrix.marker(ok)) == ("open", "")
    assert (matrix.cell_text(bad), matrix.marker(bad)) == ("open ≠ closed", "EXPOSED")
    assert matrix.endpoint(replace(ok, address="::1")) == "[::1]:62893"


def test_summary_line() -> None:
    assert matrix.summary_line(seed_report()) == "6 cells · 6 pass · 0 fail (0 exposed, 0 broken) · 1.20s"
    assert matrix.summary_line(replace(failing_report(), duration_s=None)) == (
        "7 cells · 5 pass · 2 fail (1 exposed, 1 broken)"
    )
    assert [matrix.format_duration(s) for s in (0.842, 12.34, 125)] == ["0.84s", "12.3s", "2m05s"]
