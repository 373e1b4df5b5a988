"""The agent's other probe kinds (udp, http, resolve, sockets) on the test's own loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def run1(agent, *probes, netns=None, **vantage) -> list:
    response = agent.run_request({"vantages": [{"id": "v", "netns": netns, "probes": list(probes), **vantage}]})
    (v,) = response["vantages"]
    assert v["error"] is None
    return v["results"]


# ------------------------------------------------------------------ udp


def test_udp_open_and_closed(agent, start_serve, free_port):
    served = start_serve("udp://127.0.0.1:0")
    closed = free_port(kind=socket.SOCK_DGRAM)
    o, o2, c = run1(
        agent,
        {
            "id": "o",
            "kind": "udp",
            "address": "127.0.0.1",
            "port": served.port,
            "timeout": 2.0,
        },
        {
            "id": "o2",
            "kind": "udp",
            "address": "127.0.0.1",
            "port": served.port,
            "timeout": 2.0,
            "payload": "hi",
        },
        {
            "id": "c",
            "kind": "udp",
            "address": "127.0.0.1",
            "port": closed,
            "timeout": 2.0,
        },
    )
    assert (o["state"], o["banner"]) == ("open", "looplab\n")
    assert (o2["state"], o2["banner"]) == ("open", "hi")
    assert c["state"] == "closed", c
    assert "ICMP type 3 code 3" in c["detail"]


def test_udp_silence_is_open_filtered(agent):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:  # bound, never answers
        mute.bind(("127.0.0.1", 0))
        (r,) = run1(
            agent,
            {
                "id": "u",
                "kind": "udp",
                "address": "127.0.0.1",
                "port": mute.getsockname()[1],
                "timeout": 0.2,
            },
        )
        assert mute.recv(100) == b"looplab\n"
    assert r["state"] == "open|filtered" and r["banner"] is None


# ------------------------------------------------------------------ http


def test_http_status_line(agent, start_serve, free_port):
    served = start_serve("http://127.0.0.1:0", "tcp://127.0.0.1:0")
    ok, closed, echo = run1(
        agent,
        {
            "id": "h",
            "kind": "http",
            "address": "127.0.0.1",
            "port": served.ports[0],
            "path": "/x",
            "timeout": 2.0,
        },
        {
            "id": "c",
            "kind": "http",
            "address": "127.0.0.1",
            "port": free_port(),
            "timeout": 2.0,
        },
        {
            "id": "e",
            "kind": "http",
            "address": "127.0.0.1",
            "port": served.ports[1],
            "timeout": 2.0,
        },
    )
    assert ok["state"] == "open" and ok["status"] == "HTTP/1.0 200 OK" and ok["status_code"] == 200, ok
    assert closed["state"] == "closed" and closed["status"] is None
    # an echo server answers with our own request line: connected, but not HTTP
    assert echo["state"] == "open" and echo["status"] is None
    assert echo["detail"].startswith("not an HTTP response")


def test_http_bad_path_is_probe_error(agent):
    (r,) = run1(
        agent,
        {"id": "h", "kind": "http", "address": "127.0.0.1", "port": 80, "path": "x y"},
    )
    assert r["state"] == "error" and "'path'" in r["detail"]


# ------------------------------------------------------------------ resolve


HOSTS = """\
# comment line
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
172.18.0.3\tapp app.lan  # trailing comment
172.18.0.4\tAPP
not-an-ip\tapp
"""


def test_hosts_lookup(agent):
    assert agent.hosts_lookup(HOSTS, "localhost") == ["127.0.0.1", "::1"]
    assert agent.hosts_lookup(HOSTS, "app") == ["172.18.0.3", "172.18.0.4"]
    assert agent.hosts_lookup(HOSTS, "ip6-localnet") == ["fe00::"]
    assert agent.hosts_lookup(HOSTS, "comment") == []


def test_resolve_reads_the_vantage_root_only(agent, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text(HOSTS)
    ok, missing, literal = run1(
        agent,
        {"id": "r", "kind": "resolve", "name": "localhost", "root": str(tmp_path)},
        {
            "id": "m",
            "kind": "resolve",
            "name": "example.invalid",
            "root": str(tmp_path),
        },
        {"id": "l", "kind": "resolve", "name": "::1", "root": str(tmp_path)},
    )
    assert ok == {
        "id": "r",
        "kind": "resolve",
        "state": "ok",
        "addresses": ["127.0.0.1", "::1"],
        "source": "hosts",
        "hosts": ["127.0.0.1", "::1"],
        "dns": None,
        "detail": None,
    }
    assert missing["state"] == "unresolved" and missing["addresses"] == []
    assert (literal["state"], literal["addresses"], literal["source"]) == (
        "ok",
        ["::1"],
        "literal",
    )


def test_resolve_root_from_vantage_and_missing_file(agent, tmp_path):
    (r,) = run1(agent, {"id": "r", "kind": "resolve", "name": "localhost"}, root=str(tmp_path))
    assert r["state"] == "unresolved" and "etc/hosts" in r["detail"]


# ------------------------------------------------------------------ sockets


def _hex4(ip: str) -> str:
    return int.from_bytes(socket.inet_pton(socket.AF_INET, ip), sys.byteorder).to_bytes(4, "big").hex().upper()


def _hex6(ip: str) -> str:
    raw = socket.inet_pton(socket.AF_INET6, ip)
    words = [int.from_bytes(raw[i : i + 4], sys.byteorder) for i in range(0, 16, 4)]
    return "".join(f"{w:08X}" for w in words)


HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _line(local: str, lport: int, remote: str, rport: int, st: str, inode: int) -> str:
    return (
        f"   0: {local}:{lport:04X} {remote}:{rport:04X} {st} 00000000:00000000 00:00000000 "
        f"00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
    )


def test_parse_proc_net_v4(agent):
    text = HEADER + "".join(
        [
            _line(_hex4("127.0.0.1"), 62893, _hex4("0.0.0.0"), 0, "0A", 101),
            _line(_hex4("127.0.0.1"), 40000, _hex4("127.0.0.1"), 62893, "01", 102),  # established
            _line(_hex4("172.18.0.3"), 80, _hex4("0.0.0.0"), 0, "0A", 103),
        ]
    )
    got = agent.parse_proc_net(text, "tcp")
    assert got == [
        {"proto": "tcp", "address": "127.0.0.1", "port": 62893, "inode": 101},
        {"proto": "tcp", "address": "172.18.0.3", "port": 80, "inode": 103},
    ]


def test_parse_proc_net_v6_udp(agent):
    text = HEADER + "".join(
        [
            _line(_hex6("::1"), 53, _hex6("::"), 0, "07", 201),
            _line(_hex6("::ffff:127.0.0.1"), 5353, _hex6("::"), 0, "07", 202),
            _line(_hex6("fd00::2"), 9999, _hex6("fd00::3"), 53, "01", 203),  # connected: not a listener
            _line(_hex6("::"), 68, _hex6("::"), 0, "07", 204),
        ]
    )
    got = agent.parse_proc_net(text, "udp")
    assert [(s["address"], s["port"], s["inode"]) for s in got] == [
        ("::1", 53, 201),
        ("::ffff:127.0.0.1", 5353, 202),
        ("::", 68, 204),
    ]


def test_ipv6_loopback_detection(agent):
    assert agent.has_ipv6_loopback("00000000000000000000000000000001 01 80 10 80       lo\n")
    assert not agent.has_ipv6_loopback("fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n")
    assert not agent.has_ipv6_loopback("")


def test_sockets_inventory_finds_serve_with_its_process(agent, start_serve):
    served = start_serve("tcp://127.0.0.1:0", "udp://127.0.0.1:0")
    (r,) = run1(agent, {"id": "s", "kind": "sockets"})
    assert r["state"] == "ok" and isinstance(r["ipv6_loopback"], bool)
    mine = {(s["proto"], s["port"]): s for s in r["sockets"] if s["pid"] == served.proc.pid}
    tcp = mine[("tcp", served.ports[0])]
    udp = mine[("udp", served.ports[1])]
    for s in (tcp, udp):
        assert s["address"] == "127.0.0.1"
        assert isinstance(s["inode"], int) and s["inode"] > 0
        assert "serve.py" in s["command"] and "tcp://127.0.0.1:0" in s["command"]


def test_sockets_owner_lookup_matches_own_process(agent):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        inode = os.fstat(s.fileno()).st_ino
        ns = os.stat("/proc/thread-self/ns/net")
        owners = agent.socket_owners({inode}, (ns.st_dev, ns.st_ino))
    assert owners[inode][0] == os.getpid()


@pytest.mark.parametrize("bad_kind", ["tcp", "udp", "http", "icmp"])
def test_every_kind_has_full_result_shape_on_error(agent, bad_kind):
    (r,) = run1(agent, {"id": "x", "kind": bad_kind, "address": "no-such-name", "port": 1})
    assert r["state"] == "error"
    assert set(agent.KINDS[bad_kind].defaults) <= set(r)


RESPONDER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.11", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    qid = q[:2]; end = q.index(b"\0", 12) + 5; qtype = struct.unpack_from("!H", q, end - 4)[0]
    answers = b""
    count = 0
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([172, 30, 0, 7]); count = 1
    s.sendto(qid + struct.pack("!HHHHH", 0x8180, 1, count, 0, 0) + q[12:end] + answers, peer)
"""


@pytest.mark.netns
def test_resolve_asks_dockers_dns_inside_the_namespace(agent, make_netns, tmp_path):
    ns = make_netns()
    subprocess.run(["ip", "-n", ns.name, "addr", "add", "127.0.0.11/32", "dev", "lo"], check=True)
    responder = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, sys.executable, "-c", RESPONDER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert responder.stdout.readline().strip() == "ready"
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
        (tmp_path / "etc" / "resolv.conf").write_text("nameserver 127.0.0.11\noptions ndots:0\n")
        probe = {"id": "d", "kind": "resolve", "name": "app", "root": str(tmp_path), "dns": True, "timeout": 1.0}
        (r,) = run1(agent, probe, netns=f"/run/netns/{ns.name}")
        assert (r["state"], r["addresses"], r["source"], r["dns"]) == ("ok", ["172.30.0.7"], "dns", ["172.30.0.7"])
    finally:
        responder.kill()
        responder.wait()


def test_resolve_never_asks_a_server_other_than_dockers(agent, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "etc" / "resolv.conf").write_text("nameserver 10.0.0.2\n")
    (r,) = run1(agent, {"id": "d", "kind": "resolve", "name": "app", "root": str(tmp_path), "dns": True})
    assert r["state"] == "unresolved" and "10.0.0.2" in r["detail"] and "not asked" in r["detail"]
