"""Probe kind ``http``: GET a path and read the status line; connect errors map as for tcp."""

from __future__ import annotations

import errno
import socket
import time

from .core import AGENT, ProbeFailed, Vantage, probe
from .net import errname, host_text, spec_address, spec_port, spec_timeout, tcp_connect, wait_fd

HTTP_READ_MAX = 4096


@probe("http", listener=True, cli=True, latency_ms=None, status=None, status_code=None)
async def probe_http(v: Vantage, spec: dict) -> dict:
    """GET ``path`` and read the status line (at most 4 KiB). Connect errors map as tcp."""
    ip, port, timeout = spec_address(spec), spec_port(spec), spec_timeout(spec)
    path = spec.get("path") or "/"
    host = spec.get("host") or host_text(ip, None if port == 80 else port)
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "\r\n "):
        raise ProbeFailed(f"'path' must be an absolute path without spaces, got {path!r}")
    if not isinstance(host, str) or any(c in host for c in "\r\n"):
        raise ProbeFailed(f"'host' must be a header value, got {host!r}")
    request = (
        f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1", errors="replace")
    async with v.slots:
        sock, state, detail, latency = await tcp_connect(v, ip, port, timeout)
        if sock is None:
            return {"state": state, "latency_ms": latency, "detail": detail}
        with sock:
            return await _http_exchange(v, sock, request, latency, timeout)


async def _http_exchange(v: Vantage, sock: socket.socket, request: bytes, latency, timeout: float) -> dict:
    result = {"state": "open", "latency_ms": latency}
    try:
        sock.send(request)  # a few hundred bytes into a fresh socket buffer
    except OSError as e:
        reset = e.errno in (errno.ECONNRESET, errno.EPIPE)
        result.update(
            state="reset" if reset else "error",
            detail=f"{errname(e.errno)} sending the request",
        )
        return result
    buf = b""
    deadline = time.perf_counter() + timeout
    while b"\n" not in buf and len(buf) < HTTP_READ_MAX:
        left = deadline - time.perf_counter()
        if left <= 0 or not await wait_fd(v.loop, sock.fileno(), False, left):
            result["detail"] = f"connected, but no HTTP response within {timeout:g} s"
            return result
        try:
            chunk = sock.recv(HTTP_READ_MAX - len(buf))
        except BlockingIOError:
            continue
        except OSError as e:
            if buf:
                break
            state = "reset" if e.errno == errno.ECONNRESET else "error"
            result.update(state=state, detail=f"{errname(e.errno)} before any response")
            return result
        if not chunk:
            if not buf:
                result.update(state="reset", detail="connection closed (EOF) before any response")
                return result
            break
        buf += chunk
    line = buf.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
    parts = line.split(None, 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        result.update(status=line, status_code=int(parts[1]))
    else:
        result["detail"] = f"not an HTTP response: {line[:64]!r}"
    return result
