"""JUnit XML: one testsuite per lab, one testcase per cell, a <failure> per failing cell and a
<flakyFailure> (Surefire's rerun format) per flaky cell."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..domain import Cell, Report
from . import matrix

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (probe error text may hold any byte)."""
    return _XML_INVALID.sub("\ufffd", text)


def _seconds(ms: float | None) -> str:
    return f"{(ms or 0.0) / 1000:.6f}"


def _failure_body(cell: Cell) -> str:
    lines = [f"{cell.vantage} -> {cell.target} ({cell.proto}, {matrix.endpoint(cell)})"]
    facts = matrix.failure_facts(cell) + ([("reproduce", cell.reproduce)] if cell.reproduce else [])
    lines += [f"{label}: {value}" for label, value in facts]
    return _clean("\n".join(lines))


def _testcase(report: Report, cell: Cell) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "classname": _clean(f"looplab.{report.lab}.{cell.vantage}"),
            "name": _clean(f"{cell.vantage} -> {cell.target}/{cell.proto}"),
            "time": _seconds(cell.latency_ms),
        },
    )
    if not cell.passed:
        failure = ET.SubElement(
            case,
            "failure",
            {
                "message": _clean(f"observed {cell.state}, expected {cell.expected} ({cell.verdict})"),
                "type": cell.verdict,
            },
        )
        failure.text = _failure_body(cell)
    elif cell.flaky:  # Maven Surefire's rerun format: the testcase passes, the first observation is kept
        first = cell.observations[0] if cell.observations else "?"
        flaky = ET.SubElement(
            case,
            "flakyFailure",
            {"message": _clean(f"first probe observed {first}, expected {cell.expected}"), "type": "flaky"},
        )
        flaky.text = _failure_body(cell)
    return case


def render(report: Report) -> str:
    """The report as JUnit XML text (a <testsuites> root holding one <testsuite>)."""
    s = report.summary
    counts = {
        "tests": str(s.cells),
        "failures": str(s.failed),
        "errors": "0",
        "skipped": "0",
        "time": f"{report.duration_s or 0.0:.3f}",
    }
    root = ET.Element("testsuites", {"name": "looplab", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _clean(report.lab), **counts})
    props = ET.SubElement(suite, "properties")
    facts = [(f"engine.{name}", value) for name, value in matrix.engine_facts(report)]
    for name, value in (("engine", matrix.engine_line(report)), ("run_id", report.run_id), *facts):
        if value:
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    for warning in report.warnings:
        ET.SubElement(props, "property", {"name": "warning", "value": _clean(warning)})
    suite.extend(_testcase(report, c) for c in matrix.ordered_cells(report))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
