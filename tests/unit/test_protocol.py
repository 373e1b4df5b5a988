"""The typed seam to the agent: specs become exactly the agent's request dicts, and results
come back typed with nothing of the agent's answer lost."""

from __future__ import annotations

import pytest

from orchestrator.domain import PlannedCell
from orchestrator.labfile.model import ProbeSettings
from orchestrator.probes import agent
from orchestrator.probes.launchers import Batch, SetnsLauncher
from orchestrator.probes.launchers.base import from_response, to_request
from orchestrator.probes.protocol import ProbeResult, ProbeSpec
from orchestrator.probing import probe_for
from orchestrator.runtime.state import HOST, Netns

SETTINGS = ProbeSettings()


def _planned(proto: str, port: int = 8080) -> PlannedCell:
    return PlannedCell("peer", f"app:{port}", proto, "network", "10.0.0.2", port, "open", frozenset({"open"}), "r")


def test_a_tcp_cell_is_the_request_the_agent_always_got():
    wire = probe_for(3, _planned("tcp"), SETTINGS).to_wire()
    assert wire == {
        "id": "3",
        "kind": "tcp",
        "address": "10.0.0.2",
        "port": 8080,
        "timeout": SETTINGS.timeout_s,
        "grace": SETTINGS.grace_s,
    }


def test_a_ping_has_no_port_key():
    wire = probe_for(0, _planned("icmp", 0), SETTINGS).to_wire()
    assert "port" not in wire and wire["kind"] == "icmp"


def test_false_is_sent_none_is_left_out():
    wire = ProbeSpec("0", "resolve", name="app", root="/", dns=False, timeout=1.0).to_wire()
    assert wire == {"id": "0", "kind": "resolve", "name": "app", "root": "/", "dns": False, "timeout": 1.0}


def test_scan_ranges_go_out_as_json_lists():
    spec = ProbeSpec("scan", "scan", address="127.0.0.1", ports=((1, 10), (80, 80)), timeout=0.5)
    assert spec.to_wire()["ports"] == [[1, 10], [80, 80]]
    assert ProbeSpec.from_wire(spec.to_wire()) == spec


def test_a_spec_field_the_protocol_does_not_know_is_refused():
    with pytest.raises(ValueError, match="unknown probe field"):
        ProbeSpec.from_wire({"id": "0", "kind": "tcp", "adress": "127.0.0.1"})


def test_specs_are_values():
    spec = ProbeSpec("0", "tcp", address="127.0.0.1", port=1)
    with pytest.raises(AttributeError):
        spec.port = 2  # type: ignore[misc]
    assert spec.to_wire() is not spec.to_wire()  # a fresh dict each time: the caller may edit it


@pytest.mark.parametrize("kind", list(agent.KINDS))
def test_every_kinds_result_reads_back_with_nothing_lost(kind):
    """The agent's result for each registered kind: common fields typed, the rest in `extra`."""
    wire = {"id": "p", "kind": kind, "state": "ok", **agent.KINDS[kind].defaults, "detail": "why"}
    result = ProbeResult.from_wire(wire)
    assert (result.id, result.kind, result.state, result.detail) == ("p", kind, "ok", "why")
    typed = {k for k in ("latency_ms", "status", "status_code", "banner") if k in wire}
    assert set(result.extra) | typed | {"id", "kind", "state", "detail"} == set(wire)
    assert not set(result.extra) & (typed | {"id", "kind", "state", "detail"})


def test_http_fields_are_typed():
    result = ProbeResult.from_wire(
        {"id": "h", "kind": "http", "state": "open", "latency_ms": 1.5, "status": "HTTP/1.0 200 OK", "status_code": 200}
    )
    assert (result.latency_ms, result.status, result.status_code, result.extra) == (1.5, "HTTP/1.0 200 OK", 200, {})


def test_a_result_without_state_is_an_error():
    assert ProbeResult.from_wire({"id": "x"}).state == "error"


def test_request_and_response_through_the_real_agent(tmp_path):
    """to_request / from_response around the agent itself (no socket is dialled: files only)."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    batch = Batch(
        HOST,
        Netns(HOST, None, None),
        [ProbeSpec("s", "sockets"), ProbeSpec("r", "resolve", name="localhost", root=str(tmp_path))],
    )
    request = to_request([batch], {HOST: None})
    assert request["vantages"][0]["probes"] == [
        {"id": "s", "kind": "sockets"},
        {"id": "r", "kind": "resolve", "name": "localhost", "root": str(tmp_path)},
    ]
    outcome = from_response(agent.run_request(request))[HOST]
    sockets, resolved = outcome.results
    assert outcome.error is None and isinstance(sockets, ProbeResult)
    assert sockets.ok and isinstance(sockets.extra["sockets"], list)
    assert resolved.ok and resolved.extra["addresses"] == ["127.0.0.1", "::1"]


def test_the_launcher_returns_typed_results(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    batch = Batch(HOST, Netns(HOST, None, None), [ProbeSpec("r", "resolve", name="localhost", root=str(tmp_path))])
    (result,) = SetnsLauncher().run([batch], deadline_s=10)[HOST].results
    assert result == ProbeResult("r", "resolve", "ok", extra=result.extra)
    assert result.extra["addresses"] == ["127.0.0.1"] and result.extra["source"] == "hosts"
