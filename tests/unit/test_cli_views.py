"""The views of the on-demand commands (and `up`): addresses, processes, tables, no colour on a pipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import views
from orchestrator.domain import Diagnosis, PlannedCell
from orchestrator.labfile.loader import load_lab
from orchestrator.ondemand import ProbeAnswer, ResolveAnswer, ScanAnswer, ScanTarget
from orchestrator.probes.protocol import ProbeResult
from orchestrator.runtime.base import EngineInfo, LiveLab
from orchestrator.runtime.state import HOST, LabState, MemberState, NetworkState, Published

ROOT = Path(__file__).resolve().parents[2]


def text(renderables, *, color: bool = False, width: int = views.PIPE_WIDTH) -> str:
    return views.render(renderables, color=color, width=width)


def _answer(target: str, address: str, port: int, state: str, *, kind: str = "tcp", verdict=None, **result):
    accepted = frozenset({"closed"})
    cell = PlannedCell("app", target, "tcp", "loopback", address, port, "closed", accepted, "rule 1: the model")
    return ProbeAnswer("app", kind, cell, ProbeResult("0", kind, state, **result), verdict)


def test_probe_brackets_an_ipv6_endpoint():
    answer = _answer("[::1]:8081", "::1", 8081, "closed", verdict="pass", latency_ms=0.123, detail="ECONNREFUSED")
    lines = text(views.probe_view(answer)).splitlines()
    assert lines == [
        "app -> [::1]:8081 (tcp [::1]:8081): closed in 0.12 ms",
        "  detail: ECONNREFUSED",
        "  expected closed (pass): rule 1: the model",
    ]


def test_probe_of_a_ping_names_the_service_and_its_address():
    answer = _answer("web:0", "10.0.0.2", 0, "open", kind="icmp")
    assert text(views.probe_view(answer)) == "app -> web (icmp 10.0.0.2): open\n"


def test_probe_shows_what_the_service_said_on_one_line_each():
    answer = _answer("web:80", "10.0.0.2", 80, "open", kind="http", status="HTTP/1.0 200 OK\r\n", banner="x" * 300)
    lines = text(views.probe_view(answer)).splitlines()
    assert lines[1] == "  status: HTTP/1.0 200 OK"
    assert lines[2] == "  banner: " + "x" * 200  # cut at 200 characters, never wrapped


def test_diagnose_aligns_its_facts_and_brackets_ipv6():
    answer = _answer("localhost:8080", "::1", 8080, "closed", verdict="pass", detail="ECONNREFUSED")
    found = Diagnosis("localhost-ipv6", "`localhost` is ::1 first " + "and more " * 20, "dial 127.0.0.1")
    lines = text(views.diagnose_view(answer, found)).splitlines()
    assert lines[0] == "app -> localhost:8080 (tcp [::1]:8080): closed, expected closed (pass)"
    assert lines[1:4] == ["  model:     rule 1: the model", "  detail:    ECONNREFUSED", "  cause:     localhost-ipv6"]
    assert lines[4].startswith("  found:     `localhost` is ::1 first") and len(lines) == 6  # the long fact: one line
    assert lines[5] == "  fix:       dial 127.0.0.1"


def test_diagnose_without_a_cause_says_so():
    lines = text(views.diagnose_view(_answer("app:1", "10.0.0.2", 1, "closed"), None)).splitlines()
    assert lines[-1] == "  cause:     nothing unusual: the model explains this cell"


def test_resolve():
    ok = ResolveAnswer("peer", "web", "ok", "dns", ("10.0.0.2",), ("10.0.0.2",), None)
    assert text(views.resolve_view(ok)) == "peer: web -> 10.0.0.2 (from dns); a plain client dials 10.0.0.2 first\n"
    no = ResolveAnswer("x", "web", "unresolved", None, (), (), "not asked")
    assert text(views.resolve_view(no)) == "x: web does not resolve: not asked\n"


def test_sockets_one_row_per_socket_with_its_process():
    inventory = {
        "app": [
            {"proto": "tcp", "address": "::", "port": 80, "pid": 7, "command": "serve http://[::]:80"},
            {"proto": "udp", "address": "127.0.0.11", "port": 5353, "pid": None, "command": None},
        ],
        "peer": [],
    }
    lines = text(views.sockets_view(inventory)).splitlines()
    assert lines[0].split() == ["NAMESPACE", "PROTO", "LISTENER", "PROCESS"]
    assert lines[1].split() == ["app", "tcp", "[::]:80", "pid", "7", "serve", "http://[::]:80"]
    assert lines[2].split() == ["app", "udp", "127.0.0.11:5353", "-"]
    assert lines[3] == "no listening socket in: peer"


def _scan(open_ports, owners, **extra) -> ScanAnswer:
    payload = {
        "address": "127.0.0.1",
        "ports_total": 1000,
        "scanned": 1000,
        "open": open_ports,
        "closed_count": 1000 - len(open_ports),
        "filtered": [],
        "filtered_count": 0,
        "filtered_reasons": {},
        "unreachable": False,
        "errors": {},
        "self_connects": 0,
        "concurrency": 2048,
        "seconds": 0.25,
        **extra,
    }
    result = ProbeResult("scan", "scan", "ok", extra=payload)
    target = ScanTarget("127.0.0.1", "127.0.0.1", "app", "a loopback address of the vantage")
    return ScanAnswer("lab", "app", target, "1-1000", 1.0, owners is not None, result, owners, 0.5)


def test_scan_lists_open_ports_with_listener_and_process_then_counts():
    owners = [{"port": 80, "address": "::", "pid": 9, "command": "serve"}]
    lines = text(views.scan_view(_scan([80, 443], owners))).splitlines()
    assert lines[0] == "app -> 127.0.0.1: tcp connect scan of 1000 port(s) [1-1000]"
    assert lines[1].split() == ["PORT", "LISTENER", "PROCESS"]
    assert lines[2].split() == ["80", "[::]:80", "pid", "9", "serve"]
    assert lines[3].split() == ["443", "-"]  # the inventory was read and nobody owns 443
    assert lines[4] == "2 open, 998 closed, 0 filtered · 1000 of 1000 port(s) in 0.25s (0.50s in all)"


def test_scan_without_an_inventory_says_processes_are_unknown():
    lines = text(views.scan_view(_scan([80], None))).splitlines()
    assert lines[2].split() == ["80", "?"]
    assert "processes unknown" in lines[3]


def test_scan_filtered_errors_and_unreachable():
    answer = _scan(
        [],
        [],
        filtered=list(range(1, 31)),
        filtered_count=30,
        filtered_reasons={"timeout": 30},
        errors={"EMFILE": 2},
        unreachable="EHOSTUNREACH",
    )
    out = text(views.scan_view(answer))
    assert "  no open port\n" in out and "2 error(s)" in out
    assert "  filtered: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 and 10 more" in out
    assert "  error: EMFILE (2 port(s))\n" in out and "  unreachable: EHOSTUNREACH; the scan stopped\n" in out


def test_scan_json_keeps_its_keys():
    doc = _scan([80], []).to_json()
    assert set(doc) == {
        "schema", "lab", "from", "target", "address", "allowed_as", "namespace", "inventory", "ports",
        "timeout_s", "ports_total", "scanned", "open", "closed_count", "filtered", "filtered_count",
        "filtered_reasons", "unreachable", "errors", "self_connects", "concurrency", "seconds", "owners",
        "elapsed_s",
    }  # fmt: skip
    assert doc["schema"] == "looplab/scan@1" and doc["from"] == "app" and doc["open"] == [80]


def test_up_shows_members_pids_and_published_ports():
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    members = {
        "app": MemberState("app", "service", "id1", "c-app", 101, "app", {"lan": "10.9.0.2"}),
        "side": MemberState("side", "service", "id2", "c-side", 102, "app", {}),
    }
    state = LabState(
        lab.name,
        "r1",
        members,
        {"lan": NetworkState("lan", "10.9.0.1", False)},
        published=(Published("app", 80, "tcp", "::1", 8080),),
    )
    live = LiveLab(lab, state, handle=None, engine=EngineInfo("docker", "test", "unix:///x"))
    lines = text(views.up_view(live, ["@lan", "@outside"])).splitlines()
    assert lines[0] == "lab seed-62893 is up (run r1); remove it with: looplab down seed-62893"
    assert lines[2].split() == ["app", "c-app", "101", "lan", "10.9.0.2"]
    assert lines[3].split() == ["side", "c-side", "102", "in", "app's", "namespace"]
    assert lines[5].split() == ["[::1]:8080", "app:80/tcp"]
    assert "observers @lan, @outside start when a probe first needs them" in lines[6]


@pytest.mark.parametrize("color", [False, True])
def test_colour_only_when_asked(color):
    answer = _answer("app:1", "10.0.0.2", 1, "open", verdict="exposed")
    out = text(views.probe_view(answer), color=color)
    assert ("\x1b[" in out) == color


def test_a_pipe_gets_no_colour_and_stable_width(monkeypatch, capsys):
    monkeypatch.setattr(views, "stdout_is_terminal", lambda: False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert views.use_color() is False and views.width() == views.PIPE_WIDTH
    views.show(views.sockets_view({HOST: [{"proto": "tcp", "address": "0.0.0.0", "port": 22, "pid": None}]}))
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.splitlines()[1].split() == ["host", "tcp", "0.0.0.0:22", "-"]


def test_a_long_process_is_cut_but_an_address_never_is():
    command = "serve " + "tcp://[fe80::1]:8080 " * 20
    inventory = {
        "app": [{"proto": "tcp", "address": "fe80::1234:5678:9abc:def0", "port": 8080, "pid": 3, "command": command}]
    }
    for width in (views.PIPE_WIDTH, 70):
        (row,) = text(views.sockets_view(inventory), width=width).splitlines()[1:]
        assert row.split()[:3] == ["app", "tcp", "[fe80::1234:5678:9abc:def0]:8080"]  # brackets are not markup
        assert row.endswith("…") and len(row) == width
