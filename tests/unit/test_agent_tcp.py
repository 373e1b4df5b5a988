"""The agent's tcp probe and request handling, in the test's own namespace (loopback only)."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import threading

import pytest

FAST = {"timeout": 1.0, "grace": 0.2}


def tcp(pid: str, port: int, address: str = "127.0.0.1", **kw) -> dict:
    return {"id": pid, "kind": "tcp", "address": address, "port": port, **FAST, **kw}


def run1(agent, *probes, netns=None) -> list:
    """Run probes in one vantage; its results."""
    response = agent.run_request({"vantages": [{"id": "v", "netns": netns, "probes": list(probes)}]})
    assert response["agent"] == "looplab-agent/1"
    (vantage,) = response["vantages"]
    assert vantage["error"] is None
    return vantage["results"]


class OneShotServer:
    """A loopback TCP server that does one thing with every connection it accepts."""

    def __init__(self, action: str, greeting: bytes = b"") -> None:
        self.action = action
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.action == "rst":  # SO_LINGER 0: close() sends RST
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.action == "greet":
                conn.sendall(self.greeting)
                self._stop.wait(0.5)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def oneshot():
    servers = []

    def make(action: str, greeting: bytes = b"") -> OneShotServer:
        servers.append(OneShotServer(action, greeting))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_open_and_closed(agent, start_serve, free_port):
    served = start_serve("tcp://127.0.0.1:0")
    closed = free_port()
    open_r, closed_r = run1(agent, tcp("o", served.port), tcp("c", closed))
    assert open_r["state"] == "open", open_r
    assert open_r["banner"] is None and open_r["detail"] is None
    assert isinstance(open_r["latency_ms"], float)
    assert closed_r["state"] == "closed", closed_r
    # (a port in the ephemeral range can, very rarely, connect to itself: still closed)
    assert closed_r["detail"].startswith("ECONNREFUSED") or "self-connect" in closed_r["detail"]
    assert isinstance(closed_r["latency_ms"], float)


def test_open_with_banner(agent, oneshot):
    server = oneshot("greet", b"SSH-2.0-looplab\r\n")
    (r,) = run1(agent, tcp("b", server.port, grace=2.0))
    assert r["state"] == "open", r
    assert r["banner"] == "SSH-2.0-looplab\r\n"


def test_banner_is_bounded_and_decoded_with_replacement(agent, oneshot):
    server = oneshot("greet", b"\xff" + b"x" * 1000)
    (r,) = run1(agent, tcp("b", server.port, grace=2.0))
    assert r["state"] == "open"
    assert r["banner"].startswith("\ufffd") and len(r["banner"]) <= 256


def test_reset_by_rst_after_handshake(agent, oneshot):
    server = oneshot("rst")
    (r,) = run1(agent, tcp("r", server.port, grace=2.0))
    assert r["state"] == "reset", r
    assert "ECONNRESET" in r["detail"]


def test_reset_by_eof_after_handshake(agent, oneshot):
    server = oneshot("close")
    (r,) = run1(agent, tcp("r", server.port, grace=2.0))
    assert r["state"] == "reset", r
    assert "EOF" in r["detail"]


def test_grace_zero_reports_open_on_handshake(agent, oneshot, start_serve):
    served = start_serve("tcp://127.0.0.1:0")
    (held,) = run1(agent, tcp("h", served.port, grace=0))
    assert held["state"] == "open"
    # With no grace a reset right after the handshake is not waited for; it can still win
    # the race on loopback (seen ~8%), so either answer is right, but never closed/filtered.
    (r,) = run1(agent, tcp("r", oneshot("rst").port, grace=0))
    assert r["state"] in ("open", "reset")


def test_ipv6_loopback(agent, start_serve, free_port, ipv6_loopback):
    served = start_serve("tcp://[::1]:0")
    o, c = run1(agent, tcp("o", served.port, "::1"), tcp("c", free_port("::1"), "::1"))
    assert (o["state"], c["state"]) == ("open", "closed")


def test_self_connect_is_detected(agent):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.connect(s.getsockname())  # TCP simultaneous open with itself
        assert agent.is_self_connect(s)
    with socket.socket() as srv, socket.socket() as c:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        c.connect(srv.getsockname())
        assert not agent.is_self_connect(c)


def test_names_are_never_resolved(agent):
    (r,) = run1(agent, tcp("n", 80, "localhost"))
    assert r["state"] == "error"
    assert "IP literal" in r["detail"]


@pytest.mark.parametrize(
    "probe, message",
    [
        ({"port": 0}, "'port'"),
        ({"port": "80"}, "'port'"),
        ({"timeout": 0}, "'timeout'"),
        ({"grace": -1}, "'grace'"),
        ({"address": None}, "'address'"),
    ],
)
def test_bad_probe_parameters_are_probe_errors(agent, probe, message):
    spec = {**tcp("x", 1), **probe}
    (r,) = run1(agent, spec)
    assert r["state"] == "error" and message in r["detail"]
    assert set(r) >= {"id", "kind", "state", "latency_ms", "detail", "banner"}


def test_unknown_kind_is_a_probe_error(agent):
    (r,) = run1(agent, {"id": "k", "kind": "smtp"})
    assert r == {"id": "k", "kind": "smtp", "state": "error", "detail": r["detail"]}
    assert "unknown probe kind 'smtp'" in r["detail"]


@pytest.mark.parametrize(
    "request_",
    [
        [],
        {},
        {"vantages": {}},
        {"vantages": [{"id": 1, "probes": []}]},
        {"vantages": [{"id": "v", "netns": "", "probes": []}]},
        {"vantages": [{"id": "v"}]},
        {"vantages": [{"id": "v", "probes": [{"kind": "tcp"}]}]},
        {"vantages": [{"id": "v", "probes": [{"id": "p"}]}]},
    ],
)
def test_malformed_request(agent, request_):
    response = agent.run_request(request_)
    assert response["agent"] == "looplab-agent/1"
    assert response["error"].startswith("malformed request")


def test_many_vantages_in_parallel_keep_request_order(agent, start_serve, free_port):
    served = start_serve("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
    closed = [free_port() for _ in range(2)]
    ports = served.ports + closed
    request = {
        "vantages": [
            {
                "id": f"v{i}",
                "netns": None,
                "probes": [tcp(f"v{i}p{j}", ports[j % 4], grace=0) for j in range(100)],
            }
            for i in range(10)
        ]
    }
    response = agent.run_request(request)
    assert [v["id"] for v in response["vantages"]] == [f"v{i}" for i in range(10)]
    for i, v in enumerate(response["vantages"]):
        assert v["error"] is None
        assert [r["id"] for r in v["results"]] == [f"v{i}p{j}" for j in range(100)]
        states = [r["state"] for r in v["results"]]
        assert states == ["open", "open", "closed", "closed"] * 25


def test_empty_request(agent):
    assert agent.run_request({"vantages": []}) == {
        "agent": "looplab-agent/1",
        "vantages": [],
    }


def _script(args, data: bytes):
    return subprocess.run(
        [sys.executable, "-I", *map(str, args)],
        check=False,
        input=data,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("how", ["agent dir", "entry.py agent"])
def test_script_mode(how, paths, start_serve):
    args = [paths.agent] if how == "agent dir" else [paths.entry, "agent"]
    served = start_serve("tcp://127.0.0.1:0")
    request = {"vantages": [{"id": "h", "netns": None, "probes": [tcp("p0", served.port)]}]}
    done = _script(args, json.dumps(request).encode())
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["vantages"][0]["results"][0]["state"] == "open"

    done = _script(args, b"{not json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"].startswith("malformed request")

    done = _script(args, b'{"vantages": 3}')
    assert done.returncode == 2
    assert "'vantages' must be a list" in json.loads(done.stdout)["error"]


def test_image_layout_flat_copy(tmp_path, paths, start_serve):
    """The agent package, serve.py and entry.py copied into one folder, as in the image."""
    shutil.copytree(paths.agent, tmp_path / "agent", ignore=shutil.ignore_patterns("__pycache__"))
    for src in (paths.serve, paths.entry):
        shutil.copy(src, tmp_path / src.name)
    served = start_serve("tcp://127.0.0.1:0", script=tmp_path / "entry.py", prefix=["serve"])
    request = {"vantages": [{"id": "h", "netns": None, "probes": [tcp("p0", served.port)]}]}
    done = _script([tmp_path / "entry.py", "agent"], json.dumps(request).encode())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["vantages"][0]["results"][0]["state"] == "open"
