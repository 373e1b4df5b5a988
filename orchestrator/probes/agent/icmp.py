"""Probe kind ``icmp``: one echo request (raw socket, else the unprivileged ping socket)."""

from __future__ import annotations

import os
import socket
import struct
import time

from .core import Vantage, probe
from .net import (
    await_reply,
    classify,
    elapsed_ms,
    enable_recverr,
    errname,
    icmp_error,
    new_socket,
    sockaddr,
    spec_address,
    spec_timeout,
)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@probe("icmp", cli=True, latency_ms=None)
async def probe_icmp(v: Vantage, spec: dict) -> dict:
    """ICMP echo (SOCK_RAW, else the unprivileged SOCK_DGRAM ping socket)."""
    ip, timeout = spec_address(spec), spec_timeout(spec)
    family, address = sockaddr(ip, 0)
    v6 = family == socket.AF_INET6
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    request_type, reply_type = (128, 129) if v6 else (8, 0)
    async with v.slots:
        t0 = time.perf_counter()
        raw = True
        try:
            sock = new_socket(family, socket.SOCK_RAW, proto)
        except PermissionError:
            raw = False
            try:
                sock = new_socket(family, socket.SOCK_DGRAM, proto)
            except OSError as e:
                return {
                    "state": "error",
                    "detail": f"no ICMP socket (raw or ping): {errname(e.errno)}",
                }
        except OSError as e:
            state, detail = classify(e.errno)
            return {"state": state, "latency_ms": elapsed_ms(t0), "detail": detail}
        with sock:
            enable_recverr(sock, v6)
            ident = int.from_bytes(os.urandom(2), "big")
            seq = int.from_bytes(os.urandom(2), "big")
            body = b"looplab-ping" + os.urandom(4)
            packet = struct.pack("!BBHHH", request_type, 0, 0, ident, seq) + body
            if not v6:  # the kernel fills the ICMPv6 checksum, and the ping socket's
                packet = packet[:2] + struct.pack("!H", _checksum(packet)) + packet[4:]
            try:
                sock.connect(address)
                t0 = time.perf_counter()
                sock.send(packet)
            except OSError as e:
                state, detail = icmp_error(sock, v6) or classify(e.errno)
                return {"state": state, "latency_ms": elapsed_ms(t0), "detail": detail}

            def echo_reply(data: bytes):
                if raw and not v6 and data:
                    data = data[(data[0] & 0x0F) * 4 :]  # strip the IPv4 header
                if len(data) < 8:
                    return None
                rtype, _code, _sum, rid, rseq = struct.unpack_from("!BBHHH", data)
                if rtype == reply_type and rseq == seq and (rid == ident or not raw):
                    return {"state": "open"}
                return None

            return await await_reply(
                v, sock, v6, t0, timeout, 2048, ("filtered", f"no echo reply within {timeout:g} s"), echo_reply
            )
