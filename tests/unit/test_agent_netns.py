"""The agent entering network namespaces the test creates (root + iproute2).

Every address dialled is a loopback address inside a namespace made here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.netns

T = 0.3  # timeout for probes that are expected to time out


def vantage(ns, *probes, vid="v") -> dict:
    return {
        "id": vid,
        "netns": ns.path if ns is not None else None,
        "probes": list(probes),
    }


def results(agent, *vantages) -> list:
    response = agent.run_request({"vantages": list(vantages)})
    for v in response["vantages"]:
        assert v["error"] is None, v
    return [v["results"] for v in response["vantages"]]


def tcp(pid, port, address="127.0.0.1", **kw):
    return {
        "id": pid,
        "kind": "tcp",
        "address": address,
        "port": port,
        "timeout": 2.0,
        "grace": 0.1,
        **kw,
    }


# Nothing listens on these in a namespace the test just made (serve's port-0
# listeners land in the ephemeral range, far above), and being below that range
# they cannot meet a TCP self-connect.
UNUSED = (5001, 5002, 5003, 5004)


def test_setns_path_sees_the_namespace_loopback(agent, make_netns, start_serve):
    a, b = make_netns(), make_netns()
    sa = start_serve("tcp://127.0.0.1:0", netns=a)
    sb = start_serve("tcp://127.0.0.1:0", netns=b)
    ra, rb = results(
        agent,
        vantage(a, tcp("own", sa.port), tcp("other", sb.port)),
        vantage(b, tcp("own", sb.port), tcp("other", sa.port)),
    )
    assert ra[0]["state"] == "open" and rb[0]["state"] == "open"
    if sa.port != sb.port:  # each namespace has its own loopback: the other's port is closed here
        assert ra[1]["state"] == "closed" and rb[1]["state"] == "closed"


def test_bad_netns_is_a_vantage_error(agent, make_netns, start_serve):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", netns=ns)
    response = agent.run_request(
        {
            "vantages": [
                {
                    "id": "missing",
                    "netns": "/run/netns/looplab-t-does-not-exist",
                    "probes": [tcp("p", 1)],
                },
                {
                    "id": "not-net",
                    "netns": "/proc/self/ns/uts",
                    "probes": [tcp("p", 1)],
                },
                vantage(ns, tcp("p", served.port), vid="good"),
            ]
        }
    )
    missing, not_net, good = response["vantages"]
    assert missing["results"] == [] and missing["error"].startswith(
        "cannot enter /run/netns/looplab-t-does-not-exist: [Errno 2]"
    )
    assert not_net["results"] == [] and "cannot enter /proc/self/ns/uts: [Errno 22]" in not_net["error"]
    assert good["error"] is None and good["results"][0]["state"] == "open"


def test_filtered_by_iptables_drop(agent, make_netns, start_serve):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", netns=ns)
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", str(served.port), "-j", "DROP")
    (r,) = results(agent, vantage(ns, tcp("p", served.port, timeout=T)))
    assert r[0]["state"] == "filtered", r
    assert "no answer" in r[0]["detail"]


def test_reject_variants(agent, make_netns):
    ns = make_netns()
    p_rst, p_adm, p_udp, p_udp_adm = UNUSED
    ns.iptables(
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        str(p_rst),
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    )
    ns.iptables(
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        str(p_adm),
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-admin-prohibited",
    )
    ns.iptables(
        "-A",
        "INPUT",
        "-p",
        "udp",
        "--dport",
        str(p_udp_adm),
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-admin-prohibited",
    )
    (r,) = results(
        agent,
        vantage(
            ns,
            tcp("rst", p_rst),
            tcp("adm", p_adm),
            {
                "id": "udp",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": p_udp,
                "timeout": 2.0,
            },
            {
                "id": "udpadm",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": p_udp_adm,
                "timeout": 2.0,
            },
        ),
    )
    states = {x["id"]: x["state"] for x in r}
    assert states == {
        "rst": "closed",
        "adm": "filtered",
        "udp": "closed",
        "udpadm": "filtered",
    }, r
    assert "administratively prohibited" in r[1]["detail"]


def test_ipv6_admin_prohibited_is_filtered_not_a_timeout(agent, make_netns):
    ns = make_netns()
    port = UNUSED[0]
    ns.iptables(
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        str(port),
        "-j",
        "REJECT",
        "--reject-with",
        "adm-prohibited",
        v6=True,
    )
    (r,) = results(agent, vantage(ns, tcp("adm6", port, "::1", timeout=5.0)))
    assert r[0]["state"] == "filtered" and "administratively prohibited" in r[0]["detail"], r


def test_unreachable(agent, make_netns):
    down = make_netns(lo_up=False)  # no route at all: lo is down
    no_v6 = make_netns(ipv6_lo=False)  # lo up, but no ::1 (as in Docker containers)
    r_down, r_v6 = results(
        agent,
        vantage(
            down,
            tcp("v4", 80),
            {
                "id": "u",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": 53,
                "timeout": T,
            },
        ),
        vantage(no_v6, tcp("v6", 80, "::1"), tcp("v4", 80)),
    )
    assert [x["state"] for x in r_down] == ["unreachable", "unreachable"], r_down
    assert r_down[0]["detail"].startswith("ENETUNREACH")
    assert r_v6[0]["state"] == "unreachable" and r_v6[0]["detail"].startswith("EADDRNOTAVAIL"), r_v6
    assert r_v6[1]["state"] == "closed"


def test_sockets_inventory_in_a_namespace(agent, make_netns, start_serve):
    ns = make_netns()
    no_v6 = make_netns(ipv6_lo=False)
    served = start_serve("tcp://127.0.0.1:0", "udp://[::1]:0", "http://0.0.0.0:0", netns=ns)
    r, r2 = results(
        agent,
        vantage(ns, {"id": "s", "kind": "sockets"}),
        vantage(no_v6, {"id": "s", "kind": "sockets"}),
    )
    inv = r[0]
    assert inv["state"] == "ok" and inv["ipv6_loopback"] is True
    got = sorted((s["proto"], s["address"], s["port"]) for s in inv["sockets"])
    assert got == sorted(
        [
            ("tcp", "127.0.0.1", served.ports[0]),
            ("udp", "::1", served.ports[1]),
            ("tcp", "0.0.0.0", served.ports[2]),
        ]
    )
    for s in inv["sockets"]:
        assert s["pid"] == served.proc.pid
        assert "serve.py" in s["command"] and "udp://[::1]:0" in s["command"]
    assert r2[0] == {
        "id": "s",
        "kind": "sockets",
        "state": "ok",
        "ipv6_loopback": False,
        "sockets": [],
        "detail": None,
    }


def test_dual_stack_listener_answers_ipv4(agent, make_netns, start_serve):
    """serve leaves IPV6_V6ONLY at the default: [::] also takes 127.0.0.1 (bindv6only=0)."""
    ns = make_netns()
    if ns.run("sysctl", "-n", "net.ipv6.bindv6only").stdout.strip() != "0":
        pytest.skip("net.ipv6.bindv6only is set in new namespaces here")
    served = start_serve("tcp://[::]:0", netns=ns)
    (r,) = results(
        agent,
        vantage(
            ns,
            tcp("v4", served.port),
            tcp("v6", served.port, "::1"),
            {"id": "s", "kind": "sockets"},
        ),
    )
    assert [x["state"] for x in r[:2]] == ["open", "open"]
    assert [(s["address"], s["port"]) for s in r[2]["sockets"]] == [("::", served.port)]


def test_udp_and_http_and_icmp_in_a_namespace(agent, make_netns, start_serve):
    ns = make_netns()
    down = make_netns(lo_up=False)
    served = start_serve("udp://127.0.0.1:0", "http://[::1]:0", "udp://127.0.0.1:0", netns=ns)
    ns.iptables("-A", "INPUT", "-p", "udp", "--dport", str(served.ports[2]), "-j", "DROP")
    r, r_down = results(
        agent,
        vantage(
            ns,
            {
                "id": "udp",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": served.ports[0],
                "timeout": 2.0,
            },
            {
                "id": "udpdrop",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": served.ports[2],
                "timeout": T,
            },
            {
                "id": "http",
                "kind": "http",
                "address": "::1",
                "port": served.ports[1],
                "timeout": 2.0,
            },
            {"id": "ping", "kind": "icmp", "address": "127.0.0.1", "timeout": 2.0},
            {"id": "ping6", "kind": "icmp", "address": "::1", "timeout": 2.0},
        ),
        vantage(down, {"id": "ping", "kind": "icmp", "address": "127.0.0.1", "timeout": T}),
    )
    states = {x["id"]: x["state"] for x in r}
    assert states == {
        "udp": "open",
        "udpdrop": "open|filtered",
        "http": "open",
        "ping": "open",
        "ping6": "open",
    }, r
    assert r[2]["status"] == "HTTP/1.0 200 OK"
    assert r[3]["latency_ms"] is not None
    assert r_down[0]["state"] == "unreachable"


def test_icmp_filtered_by_drop(agent, make_netns):
    ns = make_netns()
    ns.iptables("-A", "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP")
    (r,) = results(
        agent,
        vantage(ns, {"id": "ping", "kind": "icmp", "address": "127.0.0.1", "timeout": T}),
    )
    assert r[0]["state"] == "filtered"


def test_many_namespaces_in_parallel(agent, make_netns, start_serve):
    spaces = [make_netns() for _ in range(4)]
    served = [start_serve("tcp://127.0.0.1:0", netns=ns) for ns in spaces]
    out = results(
        agent,
        *(
            vantage(ns, tcp("own", s.port), {"id": "inv", "kind": "sockets"}, vid=ns.name)
            for ns, s in zip(spaces, served)
        ),
    )
    for r, s in zip(out, served):
        assert r[0]["state"] == "open"
        assert [(x["port"], x["pid"]) for x in r[1]["sockets"]] == [(s.port, s.proc.pid)]


def test_script_mode_with_netns(paths, make_netns, start_serve):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", netns=ns)
    request = {"vantages": [vantage(ns, tcp("p", served.port), {"id": "s", "kind": "sockets"})]}
    done = subprocess.run(
        [sys.executable, "-I", str(paths.entry), "agent"],
        check=False,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (v,) = json.loads(done.stdout)["vantages"]
    assert v["results"][0]["state"] == "open"
    assert v["results"][1]["sockets"][0]["pid"] == served.proc.pid


def test_serve_bind_failure_on_missing_address(paths, make_netns):
    ns = make_netns(ipv6_lo=False)
    done = ns.run(sys.executable, "-I", str(paths.serve), "tcp://[::1]:8080", check=False)
    assert done.returncode == 1
    assert done.stderr == "serve: cannot bind tcp://[::1]:8080: [Errno 99] Cannot assign requested address\n"


def _open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def test_the_agent_closes_every_socket(agent, make_netns, start_serve):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", "udp://127.0.0.1:0", "http://127.0.0.1:0", netns=ns)
    before = _open_sockets()
    results(
        agent,
        vantage(
            ns,
            *(tcp(f"p{i}", served.ports[0], grace=0) for i in range(50)),
            tcp("closed", UNUSED[0]),
            {
                "id": "u",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": served.ports[1],
                "timeout": 2.0,
            },
            {
                "id": "h",
                "kind": "http",
                "address": "127.0.0.1",
                "port": served.ports[2],
                "timeout": 2.0,
            },
            {"id": "i", "kind": "icmp", "address": "127.0.0.1", "timeout": 2.0},
            {"id": "s", "kind": "sockets"},
        ),
    )
    assert _open_sockets() == before


def test_iptables_kind_acts_inside_the_vantage_namespace_only(agent, make_netns):
    """A child forked from the vantage's thread stays in its namespace: the rule lands there, not here."""
    ns = make_netns()
    rule = ["-p", "tcp", "--dport", "5009", "-j", "DROP"]
    add = {"id": "a", "kind": "iptables", "argv": ["iptables", "-w", "-A", "INPUT", *rule]}
    save = {"id": "s", "kind": "iptables", "argv": ["iptables-save", "-c"]}
    ((added,),) = results(agent, vantage(ns, add))
    assert added["state"] == "ok", added
    ((inside,),) = results(agent, vantage(ns, save))
    ((here,),) = results(agent, vantage(None, save))
    assert "--dport 5009 -j DROP" in inside["stdout"]
    assert "--dport 5009" not in (here["stdout"] or "")


def test_iptables_kind_runs_nothing_but_iptables(agent, make_netns):
    ns = make_netns()
    ((refused,),) = results(agent, vantage(ns, {"id": "x", "kind": "iptables", "argv": ["sh", "-c", "true"]}))
    assert refused["state"] == "error" and "iptables" in refused["detail"]
