"""The agent's "scan" probe: a TCP connect scan of one address over port ranges.

Every scan here runs inside a network namespace the test creates (root + iproute2) and
targets only that namespace's loopback addresses; iptables rules are added inside it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

pytestmark = pytest.mark.netns


def scan(address="127.0.0.1", ports=((1, 65535),), timeout=1.0, **kw) -> dict:
    return {
        "id": "scan",
        "kind": "scan",
        "address": address,
        "ports": [list(r) for r in ports],
        "timeout": timeout,
        **kw,
    }


def run(agent, ns, *probes) -> list:
    response = agent.run_request({"vantages": [{"id": "v", "netns": ns.path, "probes": list(probes)}]})
    (v,) = response["vantages"]
    assert v["error"] is None, v
    return v["results"]


def accounted(r: dict) -> None:
    """Every port scanned is exactly one of open, closed, filtered or an error."""
    assert r["scanned"] == (len(r["open"]) + r["closed_count"] + r["filtered_count"] + sum(r["errors"].values())), r


def test_full_scan_finds_exactly_the_listeners(agent, make_netns, start_serve):
    ns = make_netns()
    start_serve(
        "tcp://127.0.0.1:7",
        "http://127.0.0.1:8080",
        "tcp://127.0.0.1:40000",  # inside the ephemeral range, where self-connects happen
        "tcp://127.0.0.1:65535",
        "tcp://127.0.0.2:9000",  # another loopback address: not 127.0.0.1's
        "udp://127.0.0.1:5353",  # UDP: a TCP scan does not see it
        netns=ns,
    )
    r, inv = run(agent, ns, scan(), {"id": "inv", "kind": "sockets"})
    assert r["state"] == "ok", r
    assert r["open"] == [7, 8080, 40000, 65535], r
    assert r["closed_count"] == 65535 - 4
    assert r["filtered"] == [] and r["filtered_count"] == 0
    assert r["unreachable"] is False and r["errors"] == {}
    assert r["ports_total"] == r["scanned"] == 65535
    assert r["address"] == "127.0.0.1" and r["seconds"] >= 0 and r["concurrency"] >= 1
    accounted(r)
    # the scan ran beside another probe of the same vantage, in the same namespace
    assert inv["state"] == "ok"
    assert {(s["address"], s["port"]) for s in inv["sockets"] if s["proto"] == "tcp"} == {
        ("127.0.0.1", 7),
        ("127.0.0.1", 8080),
        ("127.0.0.1", 40000),
        ("127.0.0.1", 65535),
        ("127.0.0.2", 9000),
    }


def test_other_loopback_address_and_ranges(agent, make_netns, start_serve):
    ns = make_netns()
    start_serve("tcp://127.0.0.2:9000", "tcp://127.0.0.1:9001", "tcp://0.0.0.0:9500", netns=ns)
    (r,) = run(agent, ns, scan("127.0.0.2", ports=((9400, 9600), (8990, 9010))))
    assert r["open"] == [9000, 9500], r  # 0.0.0.0 answers on every local address
    assert r["ports_total"] == r["scanned"] == 201 + 21
    accounted(r)


def test_drop_rule_shows_filtered(agent, make_netns, start_serve):
    ns = make_netns()
    start_serve("tcp://127.0.0.1:5001", "tcp://127.0.0.1:5002", netns=ns)
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", "5002", "-j", "DROP")
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", "5003", "-j", "DROP")
    # concurrency 2: the two silent ports hold both slots while the rest wait their turn
    (r,) = run(agent, ns, scan(ports=((5000, 5010),), timeout=0.3, concurrency=2))
    assert r["open"] == [5001], r
    assert r["filtered"] == [5002, 5003] and r["filtered_count"] == 2, r
    assert r["filtered_reasons"] == {"no answer within 0.3 s": 2}, r
    assert r["closed_count"] == 11 - 3
    assert r["unreachable"] is False
    accounted(r)


def test_reject_rules(agent, make_netns):
    """REJECT answers at once; the timeout is short on purpose: an ICMP error that meets
    the socket while connect() holds it is only a soft error (queued, not reported), and
    must still count. One socket at a time: reused sockets must not carry one port's
    queued ICMP error over to the next port (5006's to 5007)."""
    ns = make_netns()
    for port, how in ((5004, "tcp-reset"), (5005, "icmp-admin-prohibited"), (5006, "icmp-port-unreachable")):
        ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", str(port), "-j", "REJECT", "--reject-with", how)
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", "5007", "-j", "DROP")
    (r,) = run(agent, ns, scan(ports=((5004, 5008),), timeout=0.5, concurrency=1))
    assert r["open"] == [] and r["filtered"] == [5005, 5007], r
    assert r["closed_count"] == 3, r  # RST, ICMP port unreachable (as nmap), nothing there
    reasons = sorted(r["filtered_reasons"])
    assert len(reasons) == 2 and "administratively prohibited" in reasons[0], r
    assert reasons[1] == "no answer within 0.5 s", r
    assert r["unreachable"] is False
    accounted(r)


def test_tcp_self_connect_is_discarded(agent, make_netns):
    """With a one-port ephemeral range, dialling that port connects the socket to itself."""
    ns = make_netns()
    ns.run("sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40000")
    (r,) = run(agent, ns, scan(ports=((39990, 40010),)))
    assert r["open"] == [], r
    assert r["self_connects"] >= 1, r
    assert r["closed_count"] == 21 and r["errors"] == {}, r
    accounted(r)


def test_ipv6_loopback(agent, make_netns, start_serve, ipv6_loopback):
    ns = make_netns()
    start_serve("tcp://[::1]:6000", "tcp://127.0.0.1:6001", netns=ns)
    (r,) = run(agent, ns, scan("::1", ports=((5990, 6010),)))
    assert r["open"] == [6000] and r["address"] == "::1", r
    accounted(r)


def test_no_ipv6_loopback_is_unreachable(agent, make_netns):
    ns = make_netns(ipv6_lo=False)
    (r,) = run(agent, ns, scan("::1", ports=((1, 65535),)))
    assert r["state"] == "ok" and r["open"] == [], r
    assert isinstance(r["unreachable"], str) and r["unreachable"].startswith("[::1]: "), r
    assert r["scanned"] == 0  # stopped at the first port: nothing can answer


def test_respects_rlimit_nofile(paths, make_netns, start_serve):
    """A soft=hard limit of 200 fds caps the sockets in flight; the scan still completes."""
    ns = make_netns()
    start_serve("tcp://127.0.0.1:6600", netns=ns)
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", "6000:6599", "-j", "DROP")
    request = {
        "vantages": [{"id": "v", "netns": None, "probes": [scan(ports=((6000, 6600),), timeout=0.2, concurrency=2048)]}]
    }

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    done = subprocess.run(
        ["ip", "netns", "exec", ns.name, sys.executable, "-I", str(paths.agent)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (r,) = json.loads(done.stdout)["vantages"][0]["results"]
    assert r["state"] == "ok", r
    assert r["open"] == [6600], r
    assert r["filtered_count"] == 600 and r["errors"] == {}, r
    assert 1 <= r["concurrency"] < 200, r
    accounted(r)


@pytest.mark.parametrize(
    "bad",
    [
        {"ports": []},
        {"ports": [[0, 5]]},
        {"ports": [[5, 1]]},
        {"ports": [[1, 65536]]},
        {"ports": "1-5"},
        {"ports": [[1, True]]},
        {"concurrency": 0},
        {"concurrency": 10**6},
        {"address": "localhost"},
        {"timeout": 0},
    ],
)
def test_bad_parameters_are_probe_errors(agent, bad):
    spec = {**scan(ports=((1, 2),)), **bad}
    response = agent.run_request({"vantages": [{"id": "v", "netns": None, "probes": [spec]}]})
    (r,) = response["vantages"][0]["results"]
    assert r["state"] == "error" and r["detail"], r
    assert r["open"] == [] and r["closed_count"] == 0  # the kind's defaults, not missing keys


def test_ranges_are_sorted_and_merged(agent):
    assert agent.scan_ranges([[5, 10], [1, 4], [8, 20], [30, 30]]) == [(1, 20), (30, 30)]
    assert agent.scan_ranges(None) == [(1, 65535)]
