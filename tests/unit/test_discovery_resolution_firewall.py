"""Discovery of undeclared listeners, localhost dial order, firewall rule text and parsing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator.diagnosis.firewall_rules import parse_iptables_save, parse_nft
from orchestrator.discovery import discovered_listeners, with_discovered
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import plan
from orchestrator.resolution import dial_order
from orchestrator.runtime.state import HOST, OUTSIDE, LabState, MemberState, NetworkState

ROOT = Path(__file__).resolve().parents[2]


def _state(lab, sockets):
    nets = {
        "lan": NetworkState("lan", "10.9.0.1", False),
        OUTSIDE: NetworkState(OUTSIDE, "10.9.99.1", False),
    }
    members = {
        "app": MemberState("app", "service", "i1", "c1", 11, "app", {"lan": "10.9.0.2"}),
        "peer": MemberState("peer", "service", "i2", "c2", 12, "peer", {"lan": "10.9.0.3"}),
        "@lan": MemberState("@lan", "observer", "i3", "c3", 13, "@lan", {"lan": "10.9.0.4"}),
        OUTSIDE: MemberState(OUTSIDE, "observer", "i4", "c4", 14, OUTSIDE, {OUTSIDE: "10.9.99.2"}),
    }
    return LabState(
        lab.name,
        "r",
        members,
        nets,
        sockets=sockets,
        ipv6_loopback={HOST: True},
        localhost={"app": ["127.0.0.1", "::1"]},
    )


def test_undeclared_listener_is_discovered_and_expected_private():
    lab = load_lab(ROOT / "compose" / "debug-port.yml")
    sockets = {
        "app": [
            {"proto": "tcp", "address": "127.0.0.1", "port": 8080, "pid": 7, "command": "serve"},
            {"proto": "tcp", "address": "0.0.0.0", "port": 6060, "pid": 7, "command": "serve"},
            {"proto": "udp", "address": "127.0.0.11", "port": 53, "pid": None},
        ],
        HOST: [{"proto": "tcp", "address": "0.0.0.0", "port": 22, "pid": 1}],
    }
    state = _state(lab, sockets)
    found = discovered_listeners(lab, state)
    assert [(x.address, x.port) for x in found["app"]] == [("0.0.0.0", 6060)]
    assert found["app"][0].process == "pid 7 serve"
    cells = {(c.vantage, c.target): c for c in plan(with_discovered(lab, state), state)}
    assert cells[("app", "127.0.0.1:6060")].expected == "open"
    bare = with_discovered(replace(lab, expectations=()), state)
    derived = {(c.vantage, c.target): c for c in plan(bare, state)}
    assert derived[("peer", "app:6060")].expected == "closed"
    assert "undeclared listener" in derived[("peer", "app:6060")].reason
    assert "open" not in derived[("peer", "app:6060")].accepted


def test_localhost_cell_dials_the_first_address():
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    state = _state(lab, {})
    state.localhost["app"] = ["::1", "127.0.0.1"]
    state.ipv6_loopback["app"] = True
    cells = {(c.vantage, c.target): c for c in plan(lab, state)}
    cell = cells[("app", "localhost:62893")]
    assert cell.address == "::1" and cell.expected == "closed"
    assert ("peer", "localhost:62893") not in cells  # only where a listener on the port lives


def test_dial_order_follows_ipv6_availability():
    hosts = ["127.0.0.1", "::1", "127.0.0.1"]
    assert dial_order(hosts, ipv6_loopback=True) == ["::1", "127.0.0.1"]
    assert dial_order(hosts, ipv6_loopback=False) == ["127.0.0.1", "::1"]


def test_firewall_rule_arguments():
    lab = load_lab(ROOT / "compose" / "firewall.yml")
    drop, reject = lab.firewall
    assert drop.iptables_args()[:5] == ["INPUT", "-i", "lo", "-p", "tcp"]
    assert drop.iptables_args()[-2:] == ["-j", "DROP"]
    assert reject.iptables_args()[-4:] == ["-j", "REJECT", "--reject-with", "tcp-reset"]
    assert "firewall.yml:" in drop.comment


def test_rule7_firewall_changes_expectations():
    lab = load_lab(ROOT / "compose" / "firewall.yml")
    lab = replace(lab, expectations=())
    cells = {(c.vantage, c.target): c for c in plan(lab, _state(lab, {}))}
    assert cells[("app", "127.0.0.1:62893")].expected == "filtered"  # drop on lo, inside the namespace
    assert cells[("app", "app:62893")].expected == "filtered"  # own eth0 address goes through lo too
    assert cells[("peer", "app:62893")].expected == "open"  # lo rule does not see eth0 traffic
    assert cells[("peer", "app:62894")].expected == "closed"  # reject with tcp-reset
    assert "rule 7" in cells[("peer", "app:62894")].reason


def test_parse_iptables_save_and_nft():
    saved = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n[5:300] -A INPUT -i lo -p tcp -m tcp --dport 62893 -j DROP\nCOMMIT\n"
    )
    assert [(e.chain, e.dport, e.target, e.packets, e.interface) for e in saved] == [("INPUT", 62893, "DROP", 5, "lo")]
    nft = parse_nft(
        "table ip filter {\n chain INPUT {\n  tcp dport 1 counter packets 1 bytes 1 drop\n }\n}\n"
        "table inet mine {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
        "  udp dport 53 counter packets 3 bytes 9 reject\n }\n}\n"
    )
    assert [(e.table, e.dport, e.proto, e.target, e.packets) for e in nft] == [("inet mine", 53, "udp", "reject", 3)]


def test_localhost_keeps_only_loopback_entries():
    from orchestrator.resolution import loopback_only

    hosts = ["127.0.0.1", "10.0.0.5", "::1", "127.0.1.1", "fe80::1%eth0", "not-an-ip", "192.0.2.7"]
    assert loopback_only(hosts) == (
        ["127.0.0.1", "::1", "127.0.1.1"],
        ["10.0.0.5", "fe80::1%eth0", "not-an-ip", "192.0.2.7"],
    )
