"""serve.py listeners and entry.py commands, on the test's own loopback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

RUN_TIMEOUT = 30


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", *map(str, cmd)],
        check=False,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        **kw,
    )


def test_tcp_echo(start_serve):
    served = start_serve("tcp://127.0.0.1:0")
    assert served.urls == [f"tcp://127.0.0.1:{served.port}"]
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as c:
        c.sendall(b"ping\n")
        assert c.recv(100) == b"ping\n"


def test_udp_echo(start_serve):
    served = start_serve("udp://127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        c.sendto(b"dgram", ("127.0.0.1", served.port))
        data, addr = c.recvfrom(100)
    assert data == b"dgram" and addr == ("127.0.0.1", served.port)


def _http(port: int, request: bytes, host: str = "127.0.0.1") -> bytes:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as c:
        c.settimeout(5)
        c.connect((host, port))
        c.sendall(request)
        out = b""
        while chunk := c.recv(4096):
            out += chunk
    return out


def test_http_get_names_the_listener(start_serve):
    served = start_serve("http://127.0.0.1:0")
    reply = _http(served.port, b"GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert body == f"looplab serve http://127.0.0.1:{served.port}\n".encode()


def test_http_head_and_bare_newlines(start_serve):
    served = start_serve("http://127.0.0.1:0")
    reply = _http(served.port, b"HEAD / HTTP/1.0\n\n")
    assert reply.startswith(b"HTTP/1.0 200 OK\r\n") and reply.endswith(b"\r\n\r\n")


def test_several_listeners_in_one_process(start_serve, ipv6_loopback):
    served = start_serve("tcp://127.0.0.1:0", "udp://[::1]:0", "http://[::1]:0")
    assert [u.split("://")[0] for u in served.urls] == ["tcp", "udp", "http"]
    assert served.urls[1] == f"udp://[::1]:{served.ports[1]}"
    assert _http(served.ports[2], b"GET / HTTP/1.0\r\n\r\n", host="::1").startswith(b"HTTP/1.0 200 OK")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        c.sendto(b"six", ("::1", served.ports[1]))
        assert c.recv(10) == b"six"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero(start_serve, sig):
    served = start_serve("tcp://127.0.0.1:0")
    served.proc.send_signal(sig)
    assert served.proc.wait(timeout=10) == 0


def test_bind_conflict_exits_one_with_one_line(paths):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(paths.serve, "tcp://127.0.0.1:0", f"tcp://127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr == f"serve: cannot bind tcp://127.0.0.1:{port}: [Errno 98] Address already in use\n"
    assert "listening" not in done.stdout


def test_keep_going_serves_what_bound(paths, start_serve):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        served = start_serve(
            f"tcp://127.0.0.1:{port}",
            "tcp://127.0.0.1:0",
            args=["--keep-going"],
            expect=1,
        )
        assert served.port != port
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as c:
            c.sendall(b"still here")
            assert c.recv(100) == b"still here"
        served.proc.terminate()
        assert served.proc.wait(timeout=10) == 0
        err = served.proc.stderr.read().decode()
        assert err == f"serve: cannot bind tcp://127.0.0.1:{port}: [Errno 98] Address already in use\n"

        done = run(paths.serve, "--keep-going", f"tcp://127.0.0.1:{port}")
    assert done.returncode == 1 and "cannot bind" in done.stderr


def test_udp_conflict(paths):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        done = run(paths.serve, f"udp://127.0.0.1:{port}")
    assert done.returncode == 1 and f"cannot bind udp://127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["tcp://127.0.0.1"],
        ["tcp://localhost:80"],
        ["tcp://::1:80"],
        ["tcp://[127.0.0.1]:80"],
        ["sctp://127.0.0.1:80"],
        ["tcp://127.0.0.1:70000"],
        ["--bogus", "tcp://127.0.0.1:0"],
    ],
)
def test_bad_command_line_exits_two(paths, args):
    done = run(paths.serve, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("serve: ") and done.stderr.count("\n") == 1


def test_help(paths):
    done = run(paths.serve, "--help")
    assert done.returncode == 0 and "usage: serve" in done.stdout


def test_parse_url(serve_mod):
    lis = serve_mod.parse_url("http://[::]:8080")
    assert (lis.scheme, lis.address, lis.port, lis.url) == (
        "http",
        "::",
        8080,
        "http://[::]:8080",
    )
    assert serve_mod.parse_url("udp://0.0.0.0:53/").url == "udp://0.0.0.0:53"


# ------------------------------------------------------------------ entry.py


def test_entry_serve(paths, start_serve):
    served = start_serve("tcp://127.0.0.1:0", script=paths.entry, prefix=["serve"])
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as c:
        c.sendall(b"via entry")
        assert c.recv(100) == b"via entry"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_entry_idle_exits_zero_on_signal(paths, spawn, wait_handler, sig):
    proc = spawn(sys.executable, "-I", paths.entry, "idle")
    wait_handler(proc.pid, signal.SIGTERM)  # SIGINT is caught by Python from the start
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0


def test_entry_unknown_command(paths):
    done = run(paths.entry, "frobnicate")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown command 'frobnicate'" in done.stderr


def test_entry_no_command_and_help(paths):
    assert run(paths.entry).returncode == 2
    done = run(paths.entry, "--help")
    assert done.returncode == 0
    assert all(word in done.stdout for word in ("serve", "idle", "agent"))
