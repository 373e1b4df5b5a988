"""Isolation rules keyed on the engine: rootless (measured here) and Docker >= 28 (documented)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain import Engine
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import plan
from orchestrator.runtime.state import HOST, OUTSIDE, LabState, MemberState, NetworkState

ROOT = Path(__file__).resolve().parents[2]


def _state(path: str, engine: Engine | None, members: dict[str, dict[str, str]]) -> tuple:
    lab = load_lab(ROOT / "compose" / path)
    nets = {n.name: NetworkState(n.name, f"10.9.{i}.1", n.internal) for i, n in enumerate(lab.networks)}
    nets[OUTSIDE] = NetworkState(OUTSIDE, "10.9.99.1", False)
    state_members = {
        name: MemberState(name, "service", f"id-{name}", f"c-{name}", 100 + i, name, addrs)
        for i, (name, addrs) in enumerate(members.items())
    }
    return lab, LabState(lab.name, "r1", state_members, nets, engine=engine, ipv6_loopback={HOST: True})


def test_a_rootless_host_never_dials_container_addresses():
    members = {"app": {"lan": "10.9.0.2"}, "peer": {"lan": "10.9.0.3"}}
    lab, rootful = _state("seed-62893.yml", Engine("docker", "20.10.24", rootless=False), members)
    _, rootless = _state("seed-62893.yml", Engine("docker", "20.10.24", rootless=True), members)
    before, after = plan(lab, rootful), plan(lab, rootless)
    dropped = {(c.vantage, c.target) for c in before} - {(c.vantage, c.target) for c in after}
    assert dropped == {(HOST, "app:62893")}
    assert not any(c.vantage == HOST and c.address in ("10.9.0.2", "10.9.0.3") for c in after)
    assert any("rootless engine" in w and "1 host cell" in w for w in rootless.warnings)
    assert rootful.warnings == []


def test_docker_28_expects_unreachable_on_an_internal_network():
    members = {
        "world": {"public": "10.9.1.2"},
        "gate": {"sealed": "10.9.0.3", "public": "10.9.1.3"},
        "inner": {"sealed": "10.9.0.2"},
    }
    lab, old = _state("internal.yml", Engine("docker", "20.10.24"), members)
    _, new = _state("internal.yml", Engine("docker", "28.2.2"), members)
    internal_old = [c for c in plan(lab, old) if c.reason.startswith("rule 6")]
    internal_new = [c for c in plan(lab, new) if c.reason.startswith("rule 6")]
    # a name on another network does not resolve from inside: unreachable on every engine (the
    # address probe behind it is what differs: filtered on 20.10)
    assert internal_old and {c.expected for c in internal_old} == {"unreachable"}
    assert all(c.unresolved for c in internal_old)
    assert {c.expected for c in internal_new} <= {"unreachable", "open|filtered"}
    assert all("not measured here" in c.reason for c in internal_new if c.expected == "unreachable")


def test_on_a_rootless_engine_outside_meets_rootlesskit_not_the_published_port():
    from orchestrator.runtime.state import Published

    members = {"web": {"default": "10.9.0.2"}, "hidden": {"default": "10.9.0.3"}, "public": {"default": "10.9.0.4"}}
    members["@outside"] = {OUTSIDE: "10.9.99.2"}
    for rootless, expected in ((False, "open"), (True, "closed")):
        lab, state = _state("published.yml", Engine("docker", "20.10.24", rootless=rootless), members)
        state.published = (Published("public", 8080, "tcp", "0.0.0.0", 62896),)
        (cell,) = [c for c in plan(lab, state) if (c.vantage, c.target) == (OUTSIDE, "host:62896")]
        assert cell.expected == expected, cell
        assert ("RootlessKit" in cell.reason) is rootless
