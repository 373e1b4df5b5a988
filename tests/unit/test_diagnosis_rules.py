"""Diagnosis rules on fixed facts: each cause is recognised and names what it found."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.diagnosis.facts import Facts
from orchestrator.diagnosis.firewall_rules import FirewallEntry
from orchestrator.diagnosis.rules import diagnose

SERVE = {
    "proto": "tcp",
    "address": "127.0.0.1",
    "port": 62893,
    "pid": 17,
    "command": "python3 -I /looplab/entry.py serve tcp://127.0.0.1:62893",
}


def facts(**kw) -> Facts:
    base = Facts(
        vantage="peer",
        target="app:62893",
        proto="tcp",
        target_kind="network",
        address="10.9.0.2",
        port=62893,
        state="closed",
        expected="open",
        verdict="broken",
        vantage_ns="peer",
        target_ns="app",
        shared_networks=("lan",),
        vantage_networks=("lan",),
        target_networks=("lan",),
    )
    return replace(base, **kw)


def test_bound_to_loopback_names_socket_and_process():
    d = diagnose(facts(target_sockets=(SERVE,)))
    assert d.cause == "bound-to-loopback"
    assert "127.0.0.1:62893" in d.found and "pid 17" in d.found and "serve" in d.found
    assert "0.0.0.0" in d.fix


def test_nothing_listening():
    d = diagnose(facts(target_sockets=()))
    assert d.cause == "nothing-listening" and "62893/tcp" in d.found


def test_wrong_port_names_the_nearest_listener():
    other = {**SERVE, "address": "0.0.0.0", "port": 62894}
    far = {**SERVE, "address": "0.0.0.0", "port": 9000}
    d = diagnose(facts(target_sockets=(far, other)))
    assert d.cause == "wrong-port"
    assert "nearest tcp 0.0.0.0:62894" in d.found and "dial 62894" in d.fix


def test_docker_dns_is_not_a_wrong_port_candidate():
    dns = {"proto": "tcp", "address": "127.0.0.11", "port": 40000, "pid": None}
    assert diagnose(facts(target_sockets=(dns,))).cause == "nothing-listening"


def test_a_loopback_listener_is_not_offered_as_the_right_port_from_outside():
    # peer dials app's address on 9999; app's 127.0.0.1:62893 would refuse it just the same
    d = diagnose(facts(port=9999, target="app:9999", target_sockets=(SERVE,)))
    assert d.cause == "nothing-listening"


def test_wrong_port_from_inside_counts_loopback_listeners():
    d = diagnose(
        facts(
            vantage="app",
            vantage_ns="app",
            target="127.0.0.1:9999",
            address="127.0.0.1",
            port=9999,
            target_sockets=(SERVE,),
        )
    )
    assert d.cause == "wrong-port" and "62893" in d.fix


def test_firewall_drop_names_rule_and_counter():
    rule = FirewallEntry(
        "iptables", "filter", "INPUT", "-A INPUT -i lo -p tcp --dport 62893 -j DROP", "DROP", 7, 62893, "tcp", "lo"
    )
    d = diagnose(facts(state="filtered", firewall=(rule,), target_sockets=(SERVE,)))
    assert d.cause == "firewall"
    assert "drops" in d.found and "--dport 62893" in d.found and "7 packets" in d.found


def test_firewall_rule_for_another_port_is_ignored():
    rule = FirewallEntry("nftables", "inet t", "input", "tcp dport 80 drop", "drop", 0, 80, "tcp", None)
    assert diagnose(facts(firewall=(rule,), target_sockets=(SERVE,))).cause == "bound-to-loopback"


def test_nft_reject_is_recognised():
    rule = FirewallEntry("nftables", "inet t", "input", "tcp dport 62893 reject", "reject", 2, 62893, "tcp", None)
    d = diagnose(facts(firewall=(rule,)))
    assert d.cause == "firewall" and "rejects" in d.found


def test_port_conflict_names_the_holder():
    held = {**SERVE}
    line = "sidecar: serve: cannot bind tcp://0.0.0.0:62893: [Errno 98] Address already in use"
    d = diagnose(facts(bind_errors=(line,), target_sockets=(held,)))
    assert d.cause == "port-conflict"
    assert "Address already in use" in d.found and "held by tcp 127.0.0.1:62893 (pid 17" in d.found


def test_proxy_reset_behind_published_port():
    behind = {**SERVE, "port": 8080}
    d = diagnose(
        facts(
            target_kind="published",
            target="host:62894",
            address="127.0.0.1",
            port=62894,
            state="reset",
            published_to=8080,
            target_sockets=(behind,),
            vantage="host",
            vantage_ns="host",
        )
    )
    assert d.cause == "proxy-reset" and "127.0.0.1:8080" in d.found and "its container's own loopback" in d.found


def test_localhost_resolves_to_ipv6_first():
    d = diagnose(
        facts(
            target="localhost:62893",
            address="::1",
            target_sockets=(SERVE,),
            vantage="app",
            vantage_ns="app",
            localhost_order=("::1", "127.0.0.1"),
            ipv6_loopback=True,
        )
    )
    assert d.cause == "localhost-ipv6" and "::1 first" in d.found


def test_ipv6_disabled():
    d = diagnose(facts(target="[::1]:62893", address="::1", state="unreachable", vantage_ns="app"))
    assert d.cause == "ipv6-disabled"


def test_no_shared_network_is_isolation_by_design():
    d = diagnose(facts(state="filtered", shared_networks=(), vantage_networks=("other",)))
    assert d.cause == "no-shared-network" and "other" in d.found and "lan" in d.found


@pytest.mark.parametrize("discovered,cause", [(True, "undeclared-listener"), (False, "exposed")])
def test_exposed(discovered, cause):
    debug = {**SERVE, "address": "0.0.0.0", "port": 6060}
    d = diagnose(
        facts(
            target="app:6060",
            port=6060,
            state="open",
            expected="closed",
            verdict="exposed",
            target_sockets=(debug,),
            discovered=discovered,
        )
    )
    assert d.cause == cause and "0.0.0.0:6060" in d.found and "via lan" in d.found


def test_probe_error_carries_detail():
    d = diagnose(facts(state="error", detail="cannot enter /proc/1/ns/net"))
    assert d.cause == "probe-error" and "cannot enter" in d.found
