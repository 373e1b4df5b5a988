"""`looplab compare` without an engine: which cell answers each question, the generated labs,
the differences between engines, and every format (data first, layout at render time)."""

from __future__ import annotations

import json

import yaml

from orchestrator.compare.model import CompareCell, CompareReport, CompareRow, Comparison, differences
from orchestrator.compare.placements import PLACEMENTS, host_bound, lab_text, question
from orchestrator.compare.render import DIFFERS, render
from orchestrator.domain import Engine
from orchestrator.labfile.listeners import parse_listener_url

MASCOT = parse_listener_url("x", "tcp://127.0.0.1:62893")
WIDE = parse_listener_url("x", "udp://0.0.0.0:5353")
BY_NAME = {p.name: p for p in PLACEMENTS}


def test_each_question_names_the_vantage_and_what_it_dials():
    ports = {(62893, "tcp"): 49001}
    assert question(BY_NAME["bridge"], "peer", MASCOT, ports) == ("peer", "bridge:62893")
    assert question(BY_NAME["bridge"], "host", MASCOT, ports) == ("host", "bridge:62893")  # not published
    assert question(BY_NAME["published-lo"], "host", MASCOT, ports) == ("host", "host:49001")
    assert question(BY_NAME["published-all"], "@outside", MASCOT, ports) == ("@outside", "host:49001")
    assert question(BY_NAME["published-all"], "peer", MASCOT, ports) == ("peer", "published-all:62893")
    assert question(BY_NAME["sidecar"], "other network", MASCOT, ports) == ("stranger", "owner:62893")
    assert question(BY_NAME["sidecar"], "itself", MASCOT, ports) == ("sidecar", "127.0.0.1:62893")
    assert question(BY_NAME["host-mode"], "peer", MASCOT, ports) == ("peer", "host:62893")
    assert question(BY_NAME["host"], "itself", MASCOT, ports) == ("host", "127.0.0.1:62893")
    assert isinstance(question(BY_NAME["none"], "host", MASCOT, ports), str)  # nothing to dial


def test_the_host_process_never_binds_beyond_loopback():
    assert host_bound(WIDE) == "udp://127.0.0.1:5353"
    assert host_bound(parse_listener_url("x", "tcp://[::]:80")) == "tcp://[::1]:80"


def test_the_labs_hold_each_placement_once_with_ephemeral_publishes():
    a = yaml.safe_load(lab_text("a", ["tcp://127.0.0.1:62893", "udp://0.0.0.0:5353"]))["services"]
    b = yaml.safe_load(lab_text("b", ["tcp://127.0.0.1:62893"]))["services"]
    assert set(a) == {"bridge", "published-lo", "published-all", "none", "owner", "sidecar", "peer", "stranger"}
    assert set(b) == {"host-mode", "peer", "stranger"}
    assert a["published-lo"]["ports"] == ["127.0.0.1::62893/tcp", "127.0.0.1::5353/udp"]
    assert a["published-all"]["ports"] == ["0.0.0.0::62893/tcp", "0.0.0.0::5353/udp"]
    assert a["sidecar"]["network_mode"] == "service:owner" and b["host-mode"]["network_mode"] == "host"


def _comparison(context: str, host_state: str) -> Comparison:
    url = "tcp://127.0.0.1:62893"
    cells = (
        CompareCell(url, "itself", "open", "open", "pass", "bridge", "127.0.0.1:62893"),
        CompareCell(
            url, "host", host_state, "closed", "pass" if host_state == "closed" else "exposed", "host", "bridge:62893"
        ),
        CompareCell(url, "peer", None, note="left out"),
    )
    row = CompareRow("bridge", "a container", "bound to the container's 127.0.0.1", cells)
    skipped = CompareRow("host-mode", "host mode", "refused", (), skipped="refused on rootless")
    return Comparison(context, Engine("docker", "20.10"), "setns", (url,), (row, skipped))


def test_differences_between_engines_are_the_cells_whose_state_differs():
    one, two = _comparison("rootful", "closed"), _comparison("rootless", "open")
    assert differences([one]) == []
    assert differences([one, two]) == [("", "bridge", "tcp://127.0.0.1:62893", "host")]
    assert differences([one, _comparison("again", "closed")]) == []


def test_every_format_shows_the_states_the_lessons_and_the_differences():
    report = CompareReport.of([_comparison("rootful", "closed"), _comparison("rootless", "open")])
    text = render(report, "terminal", width=160)
    assert "bound to the container's 127.0.0.1" in text and f"{DIFFERS} open (expected closed)" in text
    assert "refused on rootless" in text and "1 cell(s) differ between the engines" in text
    data = json.loads(render(report, "json"))
    assert data["schema"] == "looplab/compare@1" and len(data["comparisons"]) == 2
    assert data["differences"] == [
        {"service": None, "placement": "bridge", "listener": "tcp://127.0.0.1:62893", "column": "host"}
    ]
    cell = data["comparisons"][1]["rows"][0]["cells"][1]
    assert (cell["state"], cell["expected"], cell["verdict"]) == ("open", "closed", "exposed")
    md = render(report, "markdown")
    assert f"**{DIFFERS} open (expected closed)**" in md and "| bridge | open |" in md
    page = render(report, "html")
    assert "class='differs'" in page and "refused on rootless" in page
