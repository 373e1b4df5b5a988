"""json_report.py: the documented contract, key order, and the round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from orchestrator.report import SCHEMA, json_report, parse_report

try:
    from .test_report_fixture import failing_report, seed_report
except ImportError:
    from test_report_fixture import failing_report, seed_report

CONTRACT_CELL = [
    "from",
    "to",
    "proto",
    "address",
    "port",
    "state",
    "expected",
    "verdict",
    "latency_ms",
    "diagnosis",
    "reproduce",
]


def test_contract_keys_and_order() -> None:
    text = json_report.render(failing_report())
    assert text.endswith("}\n") and text.startswith('{\n  "schema": "looplab/report@1",')
    data = json.loads(text)
    assert list(data) == ["schema", "lab", "engine", "cells", "summary", "run_id", "duration_s", "warnings", "launcher"]
    assert (data["engine"]["kind"], data["engine"]["version"]) == ("docker", "28.2.2")
    assert set(data["engine"]) == {
        "kind", "version", "api_version", "os_type", "desktop", "rootless", "userland_proxy",
        "firewall_backend", "cgroup_version", "local", "address",
    }  # fmt: skip
    assert list(data["cells"][0]) == CONTRACT_CELL + [
        "kind",
        "detail",
        "reason",
        "cause",
        "diagnosis_text",
        "observations",
        "suspect",
    ]
    assert data["summary"] == {"cells": 7, "pass": 5, "fail": 2, "exposed": 1, "broken": 1, "flaky": 0}
    exposed = data["cells"][4]
    assert (exposed["from"], exposed["to"], exposed["state"], exposed["verdict"]) == (
        "peer",
        "app:62893",
        "open",
        "exposed",
    )
    assert data["cells"][6]["latency_ms"] is None
    assert exposed["diagnosis"] == {
        "cause": "exposed",
        "found": "app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it",
        "fix": "bind app to 127.0.0.1, or expect open",
    }
    assert exposed["cause"] == "exposed"
    assert exposed["diagnosis_text"] == (
        "app listens on 0.0.0.0:62893, not 127.0.0.1: every peer on lan reaches it"
        " Fix: bind app to 127.0.0.1, or expect open"
    )
    passed = data["cells"][0]
    assert (passed["diagnosis"], passed["cause"], passed["diagnosis_text"]) == (None, None, None)


@pytest.mark.parametrize("make", [seed_report, failing_report])
def test_round_trip(make) -> None:  # type: ignore[no-untyped-def]
    report = make()
    text = json_report.render(report)
    assert parse_report(text) == report
    assert json_report.render(parse_report(text)) == text


def test_deterministic_and_unicode_kept() -> None:
    r = replace(seed_report(), warnings=("détail ≠",))
    assert json_report.render(r) == json_report.render(r)
    assert '"détail ≠"' in json_report.render(r)


def test_contract_only_document_parses() -> None:
    data = json.loads(json_report.render(seed_report()))
    for key in ("run_id", "duration_s", "warnings"):
        del data[key]
    for cell in data["cells"]:
        for key in ("kind", "detail", "reason", "cause", "diagnosis_text"):
            del cell[key]
    r = parse_report(json.dumps(data))
    assert r.cells[0].target_kind == "explicit" and r.run_id is None and r.warnings == ()


def test_diagnosis_string_of_an_older_report_parses() -> None:
    data = json.loads(json_report.render(failing_report()))
    for cell in data["cells"]:
        cell["diagnosis"] = cell.pop("diagnosis_text")  # as written before the diagnosis was an object
    cells = parse_report(json.dumps(data)).cells
    assert cells == failing_report().cells
    del data["cells"][4]["cause"]
    del data["cells"][6]["cause"]
    data["cells"][6]["diagnosis"] = "a diagnosis without a fix"
    older = parse_report(json.dumps(data)).cells
    assert (older[4].diagnosis.cause, older[4].diagnosis.fix) == ("", "bind app to 127.0.0.1, or expect open")
    assert (older[6].diagnosis.found, older[6].diagnosis.fix) == ("a diagnosis without a fix", "")


def test_a_malformed_diagnosis_is_rejected() -> None:
    data = json.loads(json_report.render(failing_report()))
    data["cells"][4]["diagnosis"] = {"cause": "exposed"}
    with pytest.raises(ValueError, match="malformed"):
        parse_report(json.dumps(data))


@pytest.mark.parametrize("text", ['{"schema": "looplab/report@2"}', "[]", json.dumps({"schema": SCHEMA, "lab": "x"})])
def test_rejects_other_documents(text: str) -> None:
    with pytest.raises(ValueError):
        parse_report(text)


@pytest.mark.parametrize("make", [seed_report, failing_report])
def test_the_cell_by_cell_text_is_exactly_what_json_dumps_gives(make) -> None:  # type: ignore[no-untyped-def]
    """render() writes cells one at a time to keep memory flat; the text must not change."""
    report = make()
    for r in (report, replace(report, cells=report.cells[:1]), replace(report, cells=())):
        assert json_report.render(r) == json.dumps(json_report.to_dict(r), indent=2, ensure_ascii=False) + "\n"
