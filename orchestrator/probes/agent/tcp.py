"""Probe kind ``tcp``: connect, then watch the connection for a grace period."""

from __future__ import annotations

import socket

from .core import Vantage, probe
from .net import BANNER_MAX, errname, spec_address, spec_number, spec_port, spec_timeout, tcp_connect, wait_fd

DEFAULT_GRACE = 0.1


@probe("tcp", listener=True, cli=True, latency_ms=None, banner=None)
async def probe_tcp(v: Vantage, spec: dict) -> dict:
    """Connect; then a grace period: data -> open, EOF/RST -> reset, silence -> open."""
    ip, port = spec_address(spec), spec_port(spec)
    timeout, grace = spec_timeout(spec), spec_number(spec, "grace", DEFAULT_GRACE)
    async with v.slots:
        sock, state, detail, latency = await tcp_connect(v, ip, port, timeout)
        if sock is None:
            return {"state": state, "latency_ms": latency, "detail": detail}
        with sock:
            state, detail, banner = await _after_connect(v, sock, grace)
    return {"state": state, "latency_ms": latency, "detail": detail, "banner": banner}


async def _after_connect(v: Vantage, sock: socket.socket, grace: float) -> tuple[str, str | None, str | None]:
    """(state, detail, banner) for a connected socket watched for ``grace`` seconds."""
    if grace <= 0:
        return "open", None, None
    if not await wait_fd(v.loop, sock.fileno(), False, grace):
        return "open", None, None
    try:
        data = sock.recv(BANNER_MAX)
    except BlockingIOError:
        return "open", None, None
    except ConnectionResetError as e:
        return "reset", f"{errname(e.errno)} after connect, before any data", None
    except OSError as e:
        return "error", f"{errname(e.errno)} after connect", None
    if not data:
        return "reset", "connection closed (EOF) after connect, before any data", None
    return "open", None, data.decode("utf-8", errors="replace")
