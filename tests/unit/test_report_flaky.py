"""A flaky cell (failed once, then passed) is marked in every matrix and listed with both observations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from orchestrator.report import html, json_report, junit, markdown, parse_report, terminal

try:
    from .test_report_fixture import flaky_report
except ImportError:
    from test_report_fixture import flaky_report


def test_terminal_marks_and_lists_it() -> None:
    text = terminal.render(flaky_report())
    assert "open ~ flaky" in text
    assert "6 cells · 5 pass · 1 flaky · 0 fail (0 exposed, 0 broken)" in text
    assert "~ app → 127.0.0.1:62893" in text
    assert "first probe:" in text and "filtered (no answer within 1s)" in text
    assert "second probe:" in text


def test_markdown_and_html_mark_and_list_it() -> None:
    md = markdown.render(flaky_report())
    assert "`open` ~ flaky" in md and "### Flaky" in md and "first probe: filtered" in md
    page = html.render(flaky_report())
    assert '<td class="flaky">open ~ flaky</td>' in page and "<h2>Flaky" in page
    assert "second probe" in page


def test_json_counts_it_and_keeps_both_observations() -> None:
    data = json.loads(json_report.render(flaky_report()))
    assert data["summary"]["flaky"] == 1 and data["summary"]["fail"] == 0
    cell = next(c for c in data["cells"] if c["verdict"] == "flaky")
    assert cell["observations"] == ["filtered (no answer within 1s)", "open"]
    back = parse_report(json_report.render(flaky_report()))
    assert back.summary.flaky == 1 and back.ok and not back.ok_strict


def test_junit_writes_a_passing_testcase_with_flaky_failure() -> None:
    root = ET.fromstring(junit.render(flaky_report()))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    case = next(c for c in suite.findall("testcase") if c.find("flakyFailure") is not None)
    assert case.find("failure") is None
    flaky = case.find("flakyFailure")
    assert flaky.get("type") == "flaky"
    assert flaky.get("message") == "first probe observed filtered (no answer within 1s), expected open"


def test_check_exits_0_with_flaky_cells_and_1_with_strict(monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    from orchestrator import session
    from orchestrator.cli import main

    monkeypatch.setattr(session, "check", lambda path, opts: flaky_report())
    lab = tmp_path / "lab.yml"
    lab.write_text("services: {}\n")
    runner = CliRunner()
    assert runner.invoke(main, ["check", str(lab)]).exit_code == 0
    strict = runner.invoke(main, ["check", "--strict", "--format", "json", str(lab)])
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["summary"]["flaky"] == 1
