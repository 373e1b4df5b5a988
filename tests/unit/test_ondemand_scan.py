"""`looplab scan`'s target and port parsing, on a loaded lab and a made-up engine state (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LooplabError
from orchestrator.labfile.loader import load_lab
from orchestrator.ondemand import parse_ports, resolve_scan_target
from orchestrator.ondemand.scan import _owners
from orchestrator.runtime.base import EngineInfo, LiveLab
from orchestrator.runtime.state import HOST, OUTSIDE, LabState, MemberState, NetworkState

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seed() -> LiveLab:
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    nets = {
        "lan": NetworkState("lan", "10.9.0.1", False),
        OUTSIDE: NetworkState(OUTSIDE, "10.9.99.1", False),
    }
    members = {
        name: MemberState(
            name, "observer" if name.startswith("@") else "service", f"id-{name}", f"c-{name}", 100 + i, name, addrs
        )
        for i, (name, addrs) in enumerate(
            {
                "app": {"lan": "10.9.0.2"},
                "peer": {"lan": "10.9.0.3"},
                "@lan": {"lan": "10.9.0.4"},
                OUTSIDE: {OUTSIDE: "10.9.99.2"},
            }.items()
        )
    }
    state = LabState(lab.name, "r1", members, nets, ipv6_loopback={HOST: True})
    return LiveLab(lab, state, handle=None, engine=EngineInfo("docker", "test", "unix:///nowhere"))


@pytest.mark.parametrize(
    "spec, ranges",
    [
        ("1-65535", [[1, 65535]]),
        ("22,80,8000-8100", [[22, 22], [80, 80], [8000, 8100]]),
        (" 22 , 8000 - 8001 ", [[22, 22], [8000, 8001]]),
        ("65535", [[65535, 65535]]),
    ],
)
def test_port_specs(spec, ranges):
    assert parse_ports(spec) == ranges


@pytest.mark.parametrize("spec", ["", "0", "0-5", "5-1", "70000", "80,", "x", "1-2-3", "-5"])
def test_bad_port_specs(spec):
    with pytest.raises(LooplabError, match="--ports"):
        parse_ports(spec)


@pytest.mark.parametrize(
    "vantage, text, address, namespace",
    [
        ("app", "127.0.0.1", "127.0.0.1", "app"),
        ("peer", "127.0.0.1", "127.0.0.1", "peer"),
        ("app", "::1", "::1", "app"),
        ("app", "[::1]", "::1", "app"),
        ("peer", "app", "10.9.0.2", "app"),  # a service: its address as the peer dials it
        ("peer", "10.9.0.2", "10.9.0.2", "app"),  # the same, written out
        ("app", "@outside", "10.9.99.2", OUTSIDE),  # an observer (not on a shared network)
        ("app", "host", "10.9.0.1", HOST),  # the vantage's gateway
        ("host", "host", "127.0.0.1", HOST),
        ("@outside", "10.9.99.1", "10.9.99.1", HOST),  # a lab gateway written out
    ],
)
def test_allowed_targets(seed, vantage, text, address, namespace):
    target = resolve_scan_target(seed, vantage, text)
    assert (target.address, target.namespace) == (address, namespace)


@pytest.mark.parametrize(
    "text", ["10.255.255.1", "10.9.0.99", "8.8.8.8", "0.0.0.0", "::ffff:127.0.0.1", "fe80::1", "192.168.1.1"]
)
def test_addresses_outside_the_lab_are_refused(seed, text):
    with pytest.raises(LooplabError, match=r"^refusing to scan .*nothing outside the lab\)$"):
        resolve_scan_target(seed, "app", text)


def test_unknown_names_are_refused_without_resolving(seed):
    for text in ("example.com", "localhost", "db"):
        with pytest.raises(LooplabError, match="not an address, `host`, or a member"):
            resolve_scan_target(seed, "app", text)


def test_owners_match_the_address_or_a_wildcard():
    sockets = [
        {"proto": "tcp", "address": "0.0.0.0", "port": 80, "pid": 1, "command": "a"},
        {"proto": "tcp", "address": "127.0.0.1", "port": 81, "pid": 2, "command": "b"},
        {"proto": "tcp", "address": "10.9.0.2", "port": 81, "pid": 3, "command": "c"},
        {"proto": "udp", "address": "0.0.0.0", "port": 80, "pid": 4, "command": "d"},
        {"proto": "tcp", "address": "::", "port": 82, "pid": 5, "command": "e"},
    ]
    assert [o["pid"] for o in _owners(sockets, "127.0.0.1", 80)] == [1]
    assert [o["pid"] for o in _owners(sockets, "127.0.0.1", 81)] == [2]
    assert [o["pid"] for o in _owners(sockets, "10.9.0.2", 81)] == [3]
    assert [o["pid"] for o in _owners(sockets, "10.9.0.2", 82)] == [5]
    assert _owners(sockets, "::1", 80) == []


def test_the_host_is_scanned_only_on_the_lab_s_published_ports_by_default(seed):
    from dataclasses import replace

    from orchestrator.ondemand.scan import DEFAULT_SCAN_PORTS, default_ports
    from orchestrator.runtime.state import Published

    gateway = resolve_scan_target(seed, "peer", "host")
    assert gateway.namespace == HOST
    with pytest.raises(LooplabError, match="publishes no TCP port there; give --ports"):
        default_ports(seed.state, gateway)
    state = replace(
        seed.state,
        published=(
            Published("app", 8080, "tcp", "127.0.0.1", 62905),
            Published("app", 5353, "udp", "0.0.0.0", 62906),
            Published("app", 80, "tcp", "0.0.0.0", 18080),
        ),
    )
    assert default_ports(state, gateway) == "18080,62905"
    assert default_ports(state, resolve_scan_target(seed, "host", "127.0.0.1")) == "18080,62905"
    assert default_ports(state, resolve_scan_target(seed, "peer", "app")) == DEFAULT_SCAN_PORTS
