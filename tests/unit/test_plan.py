"""The isolation model on fixed inputs: a loaded lab plus a fake engine state."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.labfile.loader import load_lab
from orchestrator.plan import PlannedCell, cell_for_target, plan, vantages
from orchestrator.runtime.state import HOST, OUTSIDE, LabState, MemberState, NetworkState, Published

ROOT = Path(__file__).resolve().parents[2]


def _state(lab, members: dict[str, tuple[str, dict[str, str]]], published=(), ipv6=()) -> LabState:
    nets = {n.name: NetworkState(n.name, f"10.9.{i}.1", n.internal) for i, n in enumerate(lab.networks)}
    nets[OUTSIDE] = NetworkState(OUTSIDE, "10.9.99.1", False)
    state_members = {
        name: MemberState(
            name, "observer" if name.startswith("@") else "service", f"id-{name}", f"c-{name}", 100 + i, ns, addrs
        )
        for i, (name, (ns, addrs)) in enumerate(members.items())
    }
    return LabState(
        lab.name, "r1", state_members, nets, tuple(published), ipv6_loopback={HOST: True, **{ns: True for ns in ipv6}}
    )


def _cells(planned):
    return {(c.vantage, c.target): c for c in planned}


@pytest.fixture
def seed():
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    state = _state(
        lab,
        {
            "app": ("app", {"lan": "10.9.0.2"}),
            "peer": ("peer", {"lan": "10.9.0.3"}),
            "@lan": ("@lan", {"lan": "10.9.0.4"}),
            OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
        },
    )
    return lab, state


def test_vantage_order(seed):
    lab, _ = seed
    assert vantages(lab) == ["host", "app", "peer", "@lan", "@outside", "@neighbour"]


def test_rule1_loopback_listener_open_only_in_own_namespace(seed):
    cells = _cells(plan(*seed))
    assert cells[("app", "127.0.0.1:62893")].expected == "open"
    for vantage in ("host", "peer", "@lan", "@outside"):
        assert cells[(vantage, "127.0.0.1:62893")].expected == "closed"
    assert "app's namespace" in cells[("peer", "127.0.0.1:62893")].reason
    assert cells[("peer", "app:62893")].expected == "closed"
    assert cells[("peer", "app:62893")].address == "10.9.0.2"


def test_ipv6_loopback_disabled_means_unreachable(seed):
    cells = _cells(plan(*seed))
    assert cells[("app", "[::1]:62893")].expected == "unreachable"
    assert cells[("host", "[::1]:62893")].expected == "closed"


def test_rule2_no_shared_network_is_never_open(seed):
    cells = _cells(plan(*seed))
    cell = cells[(OUTSIDE, "app:62893")]
    assert cell.accepted == frozenset({"unreachable"})
    assert "no network shared" in cell.reason
    assert cell.address == "10.9.0.2"  # the address is still probed
    assert cell.unresolved == "app does not resolve from @outside; its address 10.9.0.2 on lan"


def test_rule2_all_interfaces_open_from_shared_network():
    lab = load_lab(ROOT / "compose" / "all-interfaces.yml")
    state = _state(
        lab,
        {
            "api": ("api", {"front": "10.9.0.2"}),
            "client": ("client", {"front": "10.9.0.3"}),
            "stranger": ("stranger", {"back": "10.9.1.2"}),
            "@front": ("@front", {"front": "10.9.0.9"}),
            "@back": ("@back", {"back": "10.9.1.9"}),
            OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
        },
    )
    cells = _cells(plan(lab, state))
    assert cells[("client", "api:62893")].expected == "open"
    assert cells[("host", "api:62893")].expected == "open"
    assert cells[("api", "api:62893")].expected == "open"
    assert cells[("stranger", "api:62893")].expected == "unreachable"  # pinned in the file
    assert cells[("@back", "api:62893")].expected == "unreachable"  # the name does not resolve there


def test_rule3_and_4_published_ports():
    lab = load_lab(ROOT / "compose" / "published.yml")
    members = {s: (s, {"default": f"10.9.0.{i + 2}"}) for i, s in enumerate(["web", "hidden", "public"])}
    members |= {"@default": ("@default", {"default": "10.9.0.9"}), OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"})}
    published = [
        Published("web", 8080, "tcp", "127.0.0.1", 62894),
        Published("hidden", 8080, "tcp", "127.0.0.1", 62895),
        Published("public", 8080, "tcp", "0.0.0.0", 62896),
    ]
    cells = _cells(plan(lab, _state(lab, members, published)))
    assert cells[(HOST, "host:62894")].expected == "open"
    assert cells[(HOST, "host:62895")].expected == "reset"
    assert cells[(HOST, "host:62895")].address == "127.0.0.1"
    assert cells[(OUTSIDE, "host:62894")].expected == "closed"
    assert "leaked" in cells[(OUTSIDE, "host:62894")].reason
    assert cells[(OUTSIDE, "host:62896")].expected == "open"
    assert cells[(OUTSIDE, "host:62896")].address == "10.9.99.1"


def test_rule5_host_mode_listener_is_on_the_host_loopback():
    lab = load_lab(ROOT / "compose" / "host-mode.yml")
    state = _state(
        lab,
        {
            "hostapp": (HOST, {}),
            "bridged": ("bridged", {"lan": "10.9.0.2"}),
            "@lan": ("@lan", {"lan": "10.9.0.9"}),
            OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
        },
    )
    cells = _cells(plan(lab, state))
    assert cells[(HOST, "127.0.0.1:62897")].expected == "open"
    assert cells[("hostapp", "127.0.0.1:62897")].expected == "open"
    assert cells[("bridged", "127.0.0.1:62897")].expected == "closed"
    assert cells[(HOST, "127.0.0.1:62898")].expected == "closed"
    assert not any(c.target.startswith("hostapp:") for c in cells.values())


def test_shared_namespace_sidecar_reaches_owner_loopback():
    lab = load_lab(ROOT / "compose" / "shared-namespace.yml")
    state = _state(
        lab,
        {
            "app": ("app", {"lan": "10.9.0.2"}),
            "sidecar": ("app", {"lan": "10.9.0.2"}),
            "peer": ("peer", {"lan": "10.9.0.3"}),
            "@lan": ("@lan", {"lan": "10.9.0.9"}),
            OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
        },
    )
    cells = _cells(plan(lab, state))
    assert cells[("sidecar", "127.0.0.1:62893")].expected == "open"
    assert cells[("peer", "127.0.0.1:62893")].expected == "closed"


def test_rule6_internal_network_has_no_way_out():
    lab = load_lab(ROOT / "compose" / "internal.yml")
    state = _state(
        lab,
        {
            "world": ("world", {"public": "10.9.1.2"}),
            "gate": ("gate", {"sealed": "10.9.0.3", "public": "10.9.1.3"}),
            "inner": ("inner", {"sealed": "10.9.0.2"}),
            "@sealed": ("@sealed", {"sealed": "10.9.0.9"}),
            "@public": ("@public", {"public": "10.9.1.9"}),
            OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
        },
    )
    cells = _cells(plan(lab, state))
    assert cells[("inner", "world:8080")].accepted == frozenset({"unreachable"})
    assert "rule 6" in cells[("inner", "world:8080")].reason
    assert cells[("gate", "world:8080")].expected == "open"
    assert cells[("gate", "inner:9090")].address == "10.9.0.2"


def test_explicit_expectation_overrides_and_extends(seed, tmp_path):
    lab, state = seed
    text = (
        (ROOT / "compose" / "seed-62893.yml")
        .read_text()
        .replace(
            '- {from: peer, to: "app:62893",       state: closed}',
            '- {from: peer, to: "app:62893",       state: open}\n    - {from: peer, to: "host:9999", state: closed}',
        )
    )
    path = tmp_path / "seed.yml"
    path.write_text(text)
    cells = _cells(plan(load_lab(path), state))
    flipped = cells[("peer", "app:62893")]
    assert flipped.expected == "open" and flipped.accepted == frozenset({"open"})
    assert flipped.reason.startswith("expect at ")
    extra = cells[("peer", "host:9999")]
    assert extra.target_kind == "explicit" and extra.address == "10.9.0.1"


KINDS = """\
services:
  web:
    image: looplab/toolbox
    command: ["serve", "http://0.0.0.0:8080", "udp://0.0.0.0:5353"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
networks:
  lan: {}
x-looplab:
  probe: {timeout: 1s, icmp: true}
"""


def test_cells_carry_their_target_namespace_and_probe_kind(tmp_path):
    path = tmp_path / "kinds.yml"
    path.write_text(KINDS)
    lab = load_lab(path)
    members = {
        "web": ("web", {"lan": "10.9.0.2"}),
        "peer": ("peer", {"lan": "10.9.0.3"}),
        OUTSIDE: (OUTSIDE, {OUTSIDE: "10.9.99.2"}),
    }
    state = _state(lab, members, [Published("web", 8080, "tcp", "127.0.0.1", 62894)])
    cells = {(c.vantage, c.target, c.proto): c for c in plan(lab, state)}
    seen = {key: (c.target_ns, c.probe) for key, c in cells.items()}
    assert seen[("peer", "web:8080", "tcp")] == ("web", "http")  # an http listener gets a GET
    assert seen[("web", "127.0.0.1:8080", "tcp")] == ("web", "http")
    assert seen[("peer", "127.0.0.1:8080", "tcp")] == ("peer", "tcp")  # nothing of web's lives there
    assert seen[("peer", "web:5353", "udp")] == ("web", "udp")
    assert seen[("peer", "web", "icmp")][1] == "icmp"
    assert seen[(HOST, "host:62894", "tcp")] == (None, "tcp")  # the host's proxy answers
    asked = cell_for_target("peer", "web:8080", "tcp", lab, state)
    assert (asked.target_ns, asked.probe) == ("web", "http")


def test_a_planned_cell_becomes_a_judged_cell():
    planned = PlannedCell(HOST, "127.0.0.1:1", "udp", "loopback", "127.0.0.1", 1, "closed", frozenset({"closed"}), "r")
    assert planned.probe == "udp" and planned.target_ns is None  # before plan() places it
    cell = planned.observed("open", latency_ms=0.5, detail="echo", reproduce="looplab probe ...")
    assert (cell.vantage, cell.target, cell.proto, cell.address, cell.port) == (
        HOST,
        "127.0.0.1:1",
        "udp",
        "127.0.0.1",
        1,
    )
    assert (cell.state, cell.expected, cell.verdict, cell.reason) == ("open", "closed", "exposed", "r")
    assert (cell.latency_ms, cell.detail, cell.reproduce, cell.diagnosis) == (0.5, "echo", "looplab probe ...", None)
    assert planned.observed("closed").verdict == "pass"
    assert planned.observed("open", verdict="pass").verdict == "pass"  # a verdict given wins


def test_coarse_expectations_reachable_true_and_false(seed, tmp_path):
    lab, state = seed
    text = (
        (ROOT / "compose" / "seed-62893.yml")
        .read_text()
        .replace(
            '- {from: peer, to: "app:62893",       state: closed}',
            '- {from: peer, to: "app:62893", reachable: false}\n'
            '    - {from: app, to: "localhost:62893", reachable: true}\n'
            '    - {from: "@outside", to: "app:62893", reachable: false}',
        )
    )
    path = tmp_path / "seed.yml"
    path.write_text(text)
    cells = _cells(plan(load_lab(path), state))
    closed = cells[("peer", "app:62893")]
    assert closed.expected == "not open"
    assert closed.accepted == frozenset({"closed", "reset", "filtered", "unreachable"})
    assert "pinned by expect at" in closed.reason  # the model's closed is among them
    assert cells[("app", "localhost:62893")].accepted == frozenset({"open"})
    assert "unreachable" in cells[("@outside", "app:62893")].accepted
