"""junit.py: parses back with ElementTree, counts and failures match the report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from orchestrator.report import junit

try:
    from .test_report_fixture import failing_report, seed_report
except ImportError:
    from test_report_fixture import failing_report, seed_report


def test_counts_and_cases() -> None:
    root = ET.fromstring(junit.render(failing_report()))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "seed-62893"
    for el in (root, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors")) == ("7", "2", "0")
    cases = suite.findall("testcase")
    assert len(cases) == 7
    assert cases[0].get("classname") == "looplab.seed-62893.host"
    assert cases[0].get("name") == "host -> 127.0.0.1:62893/tcp"
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["app -> 127.0.0.1:62893/udp", "peer -> app:62893/tcp"]
    failure = failed[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "observed open, expected closed (exposed)"
    body = (failure.text or "").splitlines()
    assert body[3:6] == [
        "cause: exposed",
        "found: app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it",
        "fix: bind app to 127.0.0.1, or expect open",
    ]
    assert "reproduce: looplab probe seed.yml --from peer --to app:62893" in (failure.text or "")


def test_passing_suite_and_properties() -> None:
    root = ET.fromstring(junit.render(seed_report()))
    assert root.get("failures") == "0" and root.get("time") == "1.200"
    assert root.find(".//failure") is None
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props == {"engine": "docker 28.2.2", "run_id": "r1"}


def test_control_characters_stay_well_formed() -> None:
    r = failing_report()
    bad = replace(r.cells[4], detail="reset\x00\x1b[31m <&>")
    text = junit.render(replace(r, cells=r.cells[:4] + (bad,) + r.cells[5:]))
    failure = ET.fromstring(text).find(".//testcase[@name='peer -> app:62893/tcp']/failure")
    assert failure is not None and "reset\ufffd\ufffd[31m <&>" in (failure.text or "")
