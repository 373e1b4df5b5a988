"""Probe kind ``udp``: one datagram on a connected socket, then wait for a reply or an ICMP error."""

from __future__ import annotations

import asyncio
import socket
import time

from .core import ProbeFailed, Vantage, probe
from .kernel import IcmpBudget, icmp_suspect, paced_key
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


MAX_PACING_S = 15.0  # how long a silent UDP probe may wait for the target's ICMP budget (agent deadline: +30 s)
BUDGET = IcmpBudget()  # one per agent process: every vantage thread and every batch of a --serve agent


@probe("udp", listener=True, cli=True, latency_ms=None, banner=None)
async def probe_udp(v: Vantage, spec: dict) -> dict:
    """Send a datagram on a connected socket: reply -> open, ICMP port unreachable
    -> closed, admin-prohibited -> filtered, silence -> open|filtered.

    A silence heard when the target's kernel had no ICMP error left for us (kernel.IcmpBudget)
    is not an answer: the datagram is sent again once it has, or the result says `suspect`."""
    ip, port, timeout = spec_address(spec), spec_port(spec), spec_timeout(spec)
    payload = spec.get("payload", UDP_PAYLOAD)
    if not isinstance(payload, str):
        raise ProbeFailed(f"'payload' must be a string, got {payload!r}")
    key = paced_key(v.ns_id, ip)
    budgeted = key is None or BUDGET.take(key)
    result = await _send(v, ip, port, timeout, payload.encode("utf-8"))
    waited = 0.0
    while result["state"] == "open|filtered" and not budgeted:
        pause = BUDGET.wait_s(key)
        if waited + pause > MAX_PACING_S:
            return {**result, "suspect": icmp_suspect(str(ip), waited)}
        await asyncio.sleep(pause)
        waited += pause
        if BUDGET.take(key):
            budgeted = True
            result = await _send(v, ip, port, timeout, payload.encode("utf-8"))
            why = f"sent again after {waited:.1f} s: the first went past the target's ICMP rate limit"
            result["detail"] = f"{result['detail']}; {why}" if result.get("detail") else why
    return result


async def _send(v: Vantage, ip, port: int, timeout: float, payload: bytes) -> dict:
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
                sock.send(payload)
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
