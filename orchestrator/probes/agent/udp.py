"""Probe kind ``udp``: one datagram on a connected socket, then wait for a reply or an ICMP error."""

from __future__ import annotations

import socket
import time

from .core import ProbeFailed, Vantage, probe
from .net import (
    BANNER_MAX,
    await_reply,
    classify,
    elapsed_ms,
    enable_recverr,
    icmp_error,
    new_socket,
    sockaddr,
    spec_address,
    spec_port,
    spec_timeout,
)

UDP_PAYLOAD = "looplab\n"


@probe("udp", listener=True, cli=True, latency_ms=None, banner=None)
async def probe_udp(v: Vantage, spec: dict) -> dict:
    """Send a datagram on a connected socket: reply -> open, ICMP port unreachable
    -> closed, admin-prohibited -> filtered, silence -> open|filtered."""
    ip, port, timeout = spec_address(spec), spec_port(spec), spec_timeout(spec)
    payload = spec.get("payload", UDP_PAYLOAD)
    if not isinstance(payload, str):
        raise ProbeFailed(f"'payload' must be a string, got {payload!r}")
    family, address = sockaddr(ip, port)
    v6 = family == socket.AF_INET6
    async with v.slots:
        t0 = time.perf_counter()
        try:
            sock = new_socket(family, socket.SOCK_DGRAM)
        except OSError as e:
            state, detail = classify(e.errno)
            return {"state": state, "latency_ms": elapsed_ms(t0), "detail": detail}
        with sock:
            enable_recverr(sock, v6)
            try:
                sock.connect(address)
                sock.send(payload.encode("utf-8"))
            except OSError as e:
                state, detail = icmp_error(sock, v6) or classify(e.errno)
                return {"state": state, "latency_ms": elapsed_ms(t0), "detail": detail}
            return await await_reply(
                v,
                sock,
                v6,
                t0,
                timeout,
                BANNER_MAX,
                ("open|filtered", f"no reply within {timeout:g} s"),
                lambda data: {"state": "open", "banner": data.decode("utf-8", errors="replace")},
            )
