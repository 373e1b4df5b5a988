"""What `assert_matrix()` leaves beside a test: the JSON report, JUnit properties, a pytest-html extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..domain import Report
from ..report import render


def publish(report: Report, request: pytest.FixtureRequest) -> Path:
    """Write the JSON report (`looplab/report@1`) into the test's tmp path, record its summary and
    each failing cell as JUnit properties (as `record_property` does), and add the matrix to the
    pytest-html report when that plugin is active. The path of the JSON report."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    path = tmp_path / f"looplab-{report.lab}.json"
    path.write_text(render(report, "json"))
    s = report.summary
    props = [
        ("looplab_lab", report.lab),
        ("looplab_run", report.run_id or ""),
        ("looplab_launcher", report.launcher),
        ("looplab_cells", s.cells),
        ("looplab_passed", s.passed),
        ("looplab_failed", s.failed),
        ("looplab_exposed", s.exposed),
        ("looplab_broken", s.broken),
        ("looplab_flaky", s.flaky),
        ("looplab_report", str(path)),
    ]
    for c in report.cells:
        if not c.passed:
            why = f": {c.diagnosis.cause}: {c.diagnosis}" if c.diagnosis else ""
            props.append(
                ("looplab_cell", f"{c.vantage} -> {c.target}/{c.proto}: {c.state}, expected {c.expected}{why}")
            )
    request.node.user_properties.extend(props)
    _html_extra(report, request)
    return path


def _html_extra(report: Report, request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.hasplugin("html"):
        return
    try:
        import pytest_html

        extras = request.getfixturevalue("extras")
    except (ImportError, pytest.FixtureLookupError):
        return
    extras.append(pytest_html.extras.text(render(report, "markdown"), name=f"looplab {report.lab}"))
    extras.append(pytest_html.extras.json(_json(report), name=f"looplab {report.lab} (json)"))


def _json(report: Report) -> dict:
    from ..report.json_report import to_dict

    return to_dict(report)
