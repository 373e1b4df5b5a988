"""looplab probe agent: run a batch of probes in network namespaces, answer in JSON.

Standard library only: this file is copied into a minimal image and run as
``python -I agent.py``. It reads one JSON request on stdin and writes one JSON
response on stdout (exit 0); a malformed request gets ``{"error": ...}`` and
exit 2. Imported, :func:`run_request` does the same with dicts.

Request::

    {"vantages": [{"id": "peer", "netns": "/proc/123/ns/net" | null,
                   "probes": [{"id": "p0", "kind": "tcp", "address": "172.18.0.3",
                               "port": 62893, "timeout": 1.0, "grace": 0.1},
                              {"id": "s0", "kind": "sockets"}]}]}

Every vantage runs in a thread of its own, all in parallel. A thread given a
``netns`` path enters it with setns(2) before it creates any socket (setns
moves only the calling thread, and a socket keeps the namespace it was created
in), then runs all its probes concurrently in its own asyncio loop. Results
come back in request order.

Probe kinds live in :data:`PROBES` (kind -> coroutine function); adding a
kind touches nothing else. Safety: the agent dials only the IP literals it is
given. It never resolves a name through DNS; the ``resolve`` kind reads the
vantage's own ``/etc/hosts``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque

AGENT = "looplab-agent/1"

CLONE_NEWNET = 0x40000000
DEFAULT_TIMEOUT = 1.0
DEFAULT_GRACE = 0.1
MAX_CONCURRENCY = 1024  # sockets in flight per vantage, further bounded by RLIMIT_NOFILE
BANNER_MAX = 256
HTTP_READ_MAX = 4096
UDP_PAYLOAD = "looplab\n"

# Not exported by the socket module on every Python; the Linux values.
_SOL_IP = 0
_SOL_IPV6 = 41
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3

_UNREACHABLE = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EADDRNOTAVAIL,
    errno.EAFNOSUPPORT,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
}
_FILTERED = {errno.EPERM, errno.EACCES, errno.ETIMEDOUT}


class ProbeError(Exception):
    """A probe that cannot run as asked (bad parameters); reported as state "error"."""


class _RequestError(ValueError):
    """The request as a whole is malformed."""


# ---------------------------------------------------------------- registry

PROBES: dict = {}
"""kind -> ``async def probe(vantage, spec) -> dict`` (the fields it observed)."""

RESULT_DEFAULTS: dict = {}
"""kind -> the kind-specific result fields, with their values when nothing was observed."""


def probe(kind: str, **defaults):
    """Register a probe coroutine for ``kind`` with its result fields' defaults."""

    def register(fn):
        PROBES[kind] = fn
        RESULT_DEFAULTS[kind] = defaults
        return fn

    return register


class Vantage:
    """What a probe coroutine may use: the loop, the concurrency bound, who we are."""

    def __init__(self, vid: str, netns, root, limit: int, ns_id) -> None:
        self.id = vid
        self.netns = netns
        self.root = root
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(limit)
        self.ns_id = ns_id  # (st_dev, st_ino) of this thread's network namespace


# ---------------------------------------------------------------- helpers


def _errname(err: int) -> str:
    return f"{errno.errorcode.get(err, 'E' + str(err))}: {os.strerror(err)}"


def _classify(err: int):
    """(state, detail) for a failed connect/send/recv errno."""
    if err == errno.ECONNREFUSED:
        return "closed", _errname(err)
    if err in _UNREACHABLE:
        return "unreachable", _errname(err)
    if err in _FILTERED:
        return "filtered", _errname(err)
    return "error", _errname(err)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


def _number(spec: dict, key: str, default: float, minimum: float = 0.0) -> float:
    value = spec.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ProbeError(f"{key!r} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _timeout(spec: dict) -> float:
    value = _number(spec, "timeout", DEFAULT_TIMEOUT)
    if value <= 0:
        raise ProbeError(f"'timeout' must be > 0, got {value!r}")
    return value


def _address(spec: dict):
    """The IP literal to dial (never a name: names would need DNS)."""
    address = spec.get("address")
    if not isinstance(address, str):
        raise ProbeError(f"'address' must be an IP address string, got {address!r}")
    try:
        return _parse_ip(address)
    except ValueError:
        raise ProbeError(f"'address' must be an IP literal (names are not resolved), got {address!r}") from None


@functools.lru_cache(maxsize=4096)
def _parse_ip(address: str):
    return ipaddress.ip_address(address.strip("[]"))


def _port(spec: dict) -> int:
    port = spec.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProbeError(f"'port' must be an integer 1-65535, got {port!r}")
    return port


def _sockaddr(ip, port: int):
    if ip.version == 4:
        return socket.AF_INET, (str(ip), port)
    scope = 0
    if ip.scope_id:
        scope = int(ip.scope_id) if ip.scope_id.isdigit() else socket.if_nametoindex(ip.scope_id)
    return socket.AF_INET6, (str(ip).split("%")[0], port, 0, scope)


def _host_text(ip, port: int | None = None) -> str:
    text = f"[{ip}]" if ip.version == 6 else str(ip)
    return text if port is None else f"{text}:{port}"


async def _wait_fd(loop, fd: int, write: bool, timeout: float) -> bool:
    """Wait until ``fd`` is readable/writable; False if ``timeout`` passed first."""
    fut = loop.create_future()

    def done(value: bool) -> None:
        if not fut.done():
            fut.set_result(value)

    if write:
        loop.add_writer(fd, done, True)
    else:
        loop.add_reader(fd, done, True)
    handle = loop.call_later(max(timeout, 0.0), done, False)
    try:
        return await fut
    finally:
        handle.cancel()
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _new_socket(family: int, kind: int, proto: int = 0) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    return sock


def is_self_connect(sock: socket.socket) -> bool:
    """A TCP socket connected to itself (a loopback port in the ephemeral range)."""
    try:
        return sock.getsockname()[:2] == sock.getpeername()[:2]
    except OSError:
        return False


def _settled(sock: socket.socket):
    """The connect outcome if already known (0 or an errno), else None."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return err
    try:
        sock.getpeername()
    except OSError:
        return None
    return 0


async def _tcp_connect(v: Vantage, ip, port: int, timeout: float):
    """Connect; returns (sock or None, state, detail, latency_ms)."""
    family, sockaddr = _sockaddr(ip, port)
    t0 = time.perf_counter()
    try:
        sock = _new_socket(family, socket.SOCK_STREAM)
    except OSError as e:
        state, detail = _classify(e.errno)
        return None, state, detail, _ms(t0)
    try:
        # IP_RECVERR: ICMP errors become hard errors (IPv6 TCP otherwise waits
        # out the timeout) and their type/code can be read (admin-prohibited).
        _enable_recverr(sock, family == socket.AF_INET6)
        err = sock.connect_ex(sockaddr)
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            err = _settled(sock)  # loopback handshakes often finish inside connect()
        if err is None:
            if not await _wait_fd(v.loop, sock.fileno(), True, timeout):
                sock.close()
                return None, "filtered", f"no answer within {timeout:g} s", _ms(t0)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        latency = _ms(t0)
        if err == errno.ECONNRESET:  # handshake done, then reset before we looked
            sock.close()
            return (
                None,
                "reset",
                f"{_errname(err)} right after connect, before any data",
                latency,
            )
        if err:
            icmp = None if err == errno.ECONNREFUSED else _icmp_error(sock, family == socket.AF_INET6)
            state, detail = icmp or _classify(err)
            sock.close()
            return None, state, detail, latency
        if is_self_connect(sock):
            sock.close()
            return None, "closed", "self-connect discarded", latency
        return sock, "open", None, latency
    except BaseException:
        sock.close()
        raise


def _icmp_error(sock: socket.socket, v6: bool):
    """Read one queued ICMP error (IP_RECVERR); (state, detail) or None."""
    try:
        _data, ancdata, _flags, _addr = sock.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    except OSError:
        return None
    return _classify_recverr(ancdata, v6)


def _classify_recverr(ancdata, v6: bool):
    """(state, detail) from the sock_extended_err of an IP(V6)_RECVERR message, or None."""
    for level, ctype, cdata in ancdata:
        if (level, ctype) not in ((_SOL_IP, _IP_RECVERR), (_SOL_IPV6, _IPV6_RECVERR)):
            continue
        if len(cdata) < 8:
            continue
        ee_errno, origin, itype, code = struct.unpack_from("=IBBB", cdata)
        what = f"ICMP{'v6' if v6 else ''} type {itype} code {code} ({_errname(ee_errno)})"
        if origin == _SO_EE_ORIGIN_ICMP and itype == 3:
            if code == 3:
                return "closed", what
            if code in (9, 10, 13):
                return "filtered", f"{what}: administratively prohibited"
            return "unreachable", what
        if origin == _SO_EE_ORIGIN_ICMP6 and itype == 1:
            if code == 4:
                return "closed", what
            if code in (1, 5, 6):
                return "filtered", f"{what}: administratively prohibited"
            return "unreachable", what
        return _classify(ee_errno)[0], what
    return None


def _enable_recverr(sock: socket.socket, v6: bool) -> None:
    try:
        if v6:
            sock.setsockopt(_SOL_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(_SOL_IP, _IP_RECVERR, 1)
    except OSError:
        pass


# ---------------------------------------------------------------- tcp


@probe("tcp", latency_ms=None, banner=None)
async def probe_tcp(v: Vantage, spec: dict) -> dict:
    """Connect; then a grace period: data -> open, EOF/RST -> reset, silence -> open."""
    ip, port = _address(spec), _port(spec)
    timeout, grace = _timeout(spec), _number(spec, "grace", DEFAULT_GRACE)
    async with v.slots:
        sock, state, detail, latency = await _tcp_connect(v, ip, port, timeout)
        if sock is None:
            return {"state": state, "latency_ms": latency, "detail": detail}
        with sock:
            state, detail, banner = await _after_connect(v, sock, grace)
    return {"state": state, "latency_ms": latency, "detail": detail, "banner": banner}


async def _after_connect(v: Vantage, sock: socket.socket, grace: float):
    """(state, detail, banner) for a connected socket watched for ``grace`` seconds."""
    if grace <= 0:
        return "open", None, None
    if not await _wait_fd(v.loop, sock.fileno(), False, grace):
        return "open", None, None
    try:
        data = sock.recv(BANNER_MAX)
    except BlockingIOError:
        return "open", None, None
    except ConnectionResetError as e:
        return "reset", f"{_errname(e.errno)} after connect, before any data", None
    except OSError as e:
        return "error", f"{_errname(e.errno)} after connect", None
    if not data:
        return "reset", "connection closed (EOF) after connect, before any data", None
    return "open", None, data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- udp


@probe("udp", latency_ms=None, banner=None)
async def probe_udp(v: Vantage, spec: dict) -> dict:
    """Send a datagram on a connected socket: reply -> open, ICMP port unreachable
    -> closed, admin-prohibited -> filtered, silence -> open|filtered."""
    ip, port, timeout = _address(spec), _port(spec), _timeout(spec)
    payload = spec.get("payload", UDP_PAYLOAD)
    if not isinstance(payload, str):
        raise ProbeError(f"'payload' must be a string, got {payload!r}")
    family, sockaddr = _sockaddr(ip, port)
    v6 = family == socket.AF_INET6
    async with v.slots:
        t0 = time.perf_counter()
        try:
            sock = _new_socket(family, socket.SOCK_DGRAM)
        except OSError as e:
            state, detail = _classify(e.errno)
            return {"state": state, "latency_ms": _ms(t0), "detail": detail}
        with sock:
            _enable_recverr(sock, v6)
            try:
                sock.connect(sockaddr)
                sock.send(payload.encode("utf-8"))
            except OSError as e:
                state, detail = _icmp_error(sock, v6) or _classify(e.errno)
                return {"state": state, "latency_ms": _ms(t0), "detail": detail}
            return await _await_reply(
                v,
                sock,
                v6,
                t0,
                timeout,
                BANNER_MAX,
                ("open|filtered", f"no reply within {timeout:g} s"),
                lambda data: {"state": "open", "banner": data.decode("utf-8", errors="replace")},
            )


async def _await_reply(
    v: Vantage, sock: socket.socket, v6: bool, t0: float, timeout: float, bufsize: int, silence: tuple, accept
) -> dict:
    """Wait for a datagram that `accept` turns into a result (None: not ours, keep waiting);
    an ICMP error read from the error queue, or `silence` when the timeout passes."""
    deadline = t0 + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not await _wait_fd(v.loop, sock.fileno(), False, left):
            return {"state": silence[0], "latency_ms": _ms(t0), "detail": silence[1]}
        try:
            data = sock.recv(bufsize)
        except BlockingIOError:
            continue
        except OSError as e:
            state, detail = _icmp_error(sock, v6) or _classify(e.errno)
            return {"state": state, "latency_ms": _ms(t0), "detail": detail}
        answer = accept(data)
        if answer is not None:
            return {"latency_ms": _ms(t0), **answer}


# ---------------------------------------------------------------- icmp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@probe("icmp", latency_ms=None)
async def probe_icmp(v: Vantage, spec: dict) -> dict:
    """ICMP echo (SOCK_RAW, else the unprivileged SOCK_DGRAM ping socket)."""
    ip, timeout = _address(spec), _timeout(spec)
    family, sockaddr = _sockaddr(ip, 0)
    v6 = family == socket.AF_INET6
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    request_type, reply_type = (128, 129) if v6 else (8, 0)
    async with v.slots:
        t0 = time.perf_counter()
        raw = True
        try:
            sock = _new_socket(family, socket.SOCK_RAW, proto)
        except PermissionError:
            raw = False
            try:
                sock = _new_socket(family, socket.SOCK_DGRAM, proto)
            except OSError as e:
                return {
                    "state": "error",
                    "detail": f"no ICMP socket (raw or ping): {_errname(e.errno)}",
                }
        except OSError as e:
            state, detail = _classify(e.errno)
            return {"state": state, "latency_ms": _ms(t0), "detail": detail}
        with sock:
            _enable_recverr(sock, v6)
            ident = int.from_bytes(os.urandom(2), "big")
            seq = int.from_bytes(os.urandom(2), "big")
            body = b"looplab-ping" + os.urandom(4)
            packet = struct.pack("!BBHHH", request_type, 0, 0, ident, seq) + body
            if not v6:  # the kernel fills the ICMPv6 checksum, and the ping socket's
                packet = packet[:2] + struct.pack("!H", _checksum(packet)) + packet[4:]
            try:
                sock.connect(sockaddr)
                t0 = time.perf_counter()
                sock.send(packet)
            except OSError as e:
                state, detail = _icmp_error(sock, v6) or _classify(e.errno)
                return {"state": state, "latency_ms": _ms(t0), "detail": detail}

            def echo_reply(data: bytes):
                if raw and not v6 and data:
                    data = data[(data[0] & 0x0F) * 4 :]  # strip the IPv4 header
                if len(data) < 8:
                    return None
                rtype, _code, _sum, rid, rseq = struct.unpack_from("!BBHHH", data)
                if rtype == reply_type and rseq == seq and (rid == ident or not raw):
                    return {"state": "open"}
                return None

            return await _await_reply(
                v, sock, v6, t0, timeout, 2048, ("filtered", f"no echo reply within {timeout:g} s"), echo_reply
            )


# ---------------------------------------------------------------- http


@probe("http", latency_ms=None, status=None, status_code=None)
async def probe_http(v: Vantage, spec: dict) -> dict:
    """GET ``path`` and read the status line (at most 4 KiB). Connect errors map as tcp."""
    ip, port, timeout = _address(spec), _port(spec), _timeout(spec)
    path = spec.get("path") or "/"
    host = spec.get("host") or _host_text(ip, None if port == 80 else port)
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "\r\n "):
        raise ProbeError(f"'path' must be an absolute path without spaces, got {path!r}")
    if not isinstance(host, str) or any(c in host for c in "\r\n"):
        raise ProbeError(f"'host' must be a header value, got {host!r}")
    request = (
        f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1", errors="replace")
    async with v.slots:
        sock, state, detail, latency = await _tcp_connect(v, ip, port, timeout)
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
            detail=f"{_errname(e.errno)} sending the request",
        )
        return result
    buf = b""
    deadline = time.perf_counter() + timeout
    while b"\n" not in buf and len(buf) < HTTP_READ_MAX:
        left = deadline - time.perf_counter()
        if left <= 0 or not await _wait_fd(v.loop, sock.fileno(), False, left):
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
            result.update(state=state, detail=f"{_errname(e.errno)} before any response")
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


# ---------------------------------------------------------------- sockets


@probe("sockets", ipv6_loopback=False, sockets=[])
async def probe_sockets(v: Vantage, spec: dict) -> dict:
    """Listening TCP and unconnected UDP sockets of the namespace, like ``ss -ltnup``."""
    # A thread created by this (setns'd) thread inherits its namespace; checked inside.
    return await v.loop.run_in_executor(None, socket_inventory, v.ns_id)


def _decode_address(text: str) -> str:
    """A /proc/net/{tcp,udp}{,6} address: 32-bit words in host byte order."""
    raw = b"".join(int(text[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(text), 8))
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    ip6 = ipaddress.IPv6Address(raw)
    if ip6.ipv4_mapped is not None:
        return f"::ffff:{ip6.ipv4_mapped}"
    return str(ip6)


def parse_proc_net(text: str, proto: str) -> list:
    """Entries of one /proc/net/{tcp,tcp6,udp,udp6} file: TCP listeners, unconnected UDP."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote, st, inode = fields[1], fields[2], fields[3], fields[9]
        if proto == "tcp" and st != "0A":
            continue
        if proto == "udp":
            raddr, rport = remote.split(":")
            if st != "07" or int(rport, 16) != 0 or int(raddr, 16) != 0:
                continue
        addr, port = local.split(":")
        out.append(
            {
                "proto": proto,
                "address": _decode_address(addr),
                "port": int(port, 16),
                "inode": int(inode),
            }
        )
    return out


def _ns_id(path: str):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def socket_owners(inodes, ns_id) -> dict:
    """inode -> (pid, command) for processes in namespace ``ns_id`` holding the sockets."""
    want = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict = {}
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    for pid in pids:
        if len(found) == len(want):
            break
        try:
            if _ns_id(f"/proc/{pid}/ns/net") != ns_id:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                inode = want.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if inode is not None and inode not in found:
                found[inode] = pid
    owners = {}
    for inode, pid in found.items():
        owners[inode] = (pid, _command(pid))
    return owners


def _command(pid: int):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").strip().decode("utf-8", errors="replace")
        if cmd:
            return cmd
        with open(f"/proc/{pid}/comm", "rb") as f:
            return "[" + f.read().strip().decode("utf-8", errors="replace") + "]"
    except OSError:
        return None


def has_ipv6_loopback(text: str) -> bool:
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == "0" * 31 + "1" and fields[5] == "lo":
            return True
    return False


def socket_inventory(ns_id=None, proc: str = "/proc/thread-self", owners: bool = True) -> dict:
    """The sockets probe's result for the namespace of ``proc`` (default: the calling thread's).

    ``proc="/proc/PID"`` reads another process's namespace with no setns (as root, on the
    engine's host); ``owners=False`` skips the /proc/*/fd walk (readiness polls need no pids).
    """
    here = _ns_id(f"{proc}/ns/net")
    if ns_id is not None and here != ns_id:
        return {
            "state": "error",
            "detail": "inventory thread is not in the vantage's network namespace",
        }
    sockets = []
    for proto, name in (
        ("tcp", "tcp"),
        ("tcp", "tcp6"),
        ("udp", "udp"),
        ("udp", "udp6"),
    ):
        try:
            with open(f"{proc}/net/{name}") as f:
                sockets.extend(parse_proc_net(f.read(), proto))
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
    holders = socket_owners({s["inode"] for s in sockets}, here) if sockets and owners else {}
    for s in sockets:
        s["pid"], s["command"] = holders.get(s["inode"], (None, None))
    sockets.sort(
        key=lambda s: (
            s["proto"],
            s["port"],
            ":" in s["address"],
            s["address"],
            s["inode"],
        )
    )
    try:
        with open(f"{proc}/net/if_inet6") as f:
            v6lo = has_ipv6_loopback(f.read())
    except FileNotFoundError:
        v6lo = False
    return {"state": "ok", "ipv6_loopback": v6lo, "sockets": sockets}


# ---------------------------------------------------------------- resolve


DOCKER_DNS = "127.0.0.11"  # the only server the agent ever asks (safety: never another)


@probe("resolve", addresses=[], source="hosts", hosts=[], dns=None)
async def probe_resolve(v: Vantage, spec: dict) -> dict:
    """What a name means here: ROOT/etc/hosts first (as glibc's `files`), then, only with
    ``"dns": true`` and only when ROOT/etc/resolv.conf names it, Docker's embedded DNS at
    127.0.0.11 inside this namespace. No other server is ever asked. The caller must only
    ask for lab names: Docker forwards names it does not know to the host's resolver."""
    name = spec.get("name")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ProbeError(f"'name' must be a host name, got {name!r}")
    root = spec.get("root", v.root) or "/"
    if not isinstance(root, str):
        raise ProbeError(f"'root' must be a path, got {root!r}")
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return {"state": "ok", "addresses": [str(literal)], "source": "literal"}
    path = os.path.join(root, "etc/hosts")
    try:
        from_hosts = hosts_lookup(_read_text(path), name)  # a small local file
    except OSError as e:
        return {"state": "unresolved", "detail": f"cannot read {path}: {_errname(e.errno)}"}
    if from_hosts or not spec.get("dns"):
        if not from_hosts:
            return {"state": "unresolved", "detail": f"{name!r} is not in {path}"}
        return {"state": "ok", "addresses": from_hosts, "hosts": from_hosts}
    try:
        servers = resolv_nameservers(_read_text(os.path.join(root, "etc/resolv.conf")))
    except OSError:
        servers = []
    if DOCKER_DNS not in servers:
        return {
            "state": "unresolved",
            "hosts": [],
            "detail": f"{name!r} is not in {path}, and resolv.conf names "
            f"{', '.join(servers) or 'no server'}, not Docker's {DOCKER_DNS}: not asked (looplab asks no other)",
        }
    timeout = _number(spec, "timeout", 1.0)
    answers = await v.loop.run_in_executor(None, dns_query, name, timeout)
    if not answers:
        return {"state": "unresolved", "hosts": [], "dns": [], "detail": f"{DOCKER_DNS} has no address for {name!r}"}
    return {"state": "ok", "addresses": answers, "source": "dns", "hosts": [], "dns": answers}


def resolv_nameservers(text: str) -> list:
    return [f[1] for f in (line.split() for line in text.splitlines()) if len(f) >= 2 and f[0] == "nameserver"]


def dns_query(name: str, timeout: float) -> list:
    """A and AAAA records for ``name`` from 127.0.0.11, asked from the calling thread's namespace."""
    out: list = []
    for qtype in (1, 28):
        qid = int.from_bytes(os.urandom(2), "big")
        question = b"".join(bytes([len(p)]) + p.encode("idna") for p in name.rstrip(".").split(".")) + b"\0"
        packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(packet, (DOCKER_DNS, 53))
                reply = sock.recv(4096)
            except OSError:
                continue
        out += [a for a in _dns_answers(reply, qid) if a not in out]
    return out


def _dns_answers(reply: bytes, qid: int) -> list:
    if len(reply) < 12:
        return []
    rid, _flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", reply)
    if rid != qid:
        return []
    pos = 12
    for _ in range(qd):
        pos = _skip_name(reply, pos) + 4
    found = []
    for _ in range(an):
        pos = _skip_name(reply, pos)
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", reply, pos)
        pos += 10
        data = reply[pos : pos + length]
        pos += length
        if rtype == 1 and length == 4:
            found.append(str(ipaddress.IPv4Address(data)))
        elif rtype == 28 and length == 16:
            found.append(str(ipaddress.IPv6Address(data)))
    return found


def _skip_name(buf: bytes, pos: int) -> int:
    while pos < len(buf):
        length = buf[pos]
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos
    return pos


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def hosts_lookup(text: str, name: str) -> list:
    """Addresses for ``name`` in hosts-file order (case-insensitive, no duplicates)."""
    wanted = name.lower().rstrip(".")
    out: list = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or wanted not in (n.lower().rstrip(".") for n in fields[1:]):
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            continue
        if address not in out:
            out.append(address)
    return out


# ---------------------------------------------------------------- scan

SCAN_CONCURRENCY = 2048  # sockets in flight for a scan (bounded by RLIMIT_NOFILE)
SCAN_CONCURRENCY_MAX = 16384
SCAN_FILTERED_LIST_MAX = 1024  # beyond this many filtered ports only the count is given
SCAN_RETRIES = 2  # re-dials of a port whose connection met one of our own sockets
_SCAN_FD_RESERVE = 64  # fds left for the rest of the agent (other vantages, /proc reads)
_SOCK_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


@probe(
    "scan",
    address=None,
    ports_total=0,
    scanned=0,
    open=[],
    closed_count=0,
    filtered=[],
    filtered_count=0,
    filtered_reasons={},
    unreachable=False,
    errors={},
    self_connects=0,
    concurrency=0,
    seconds=None,
)
async def probe_scan(v: Vantage, spec: dict) -> dict:
    """TCP connect scan of one address over port ranges (like ``nmap -sT``).

    ``open`` means the handshake completed (nothing is sent, no grace is waited);
    ``closed`` got a RST (or ICMP port unreachable); ``filtered`` got no answer
    within ``timeout`` or an ICMP error for that port. ``unreachable`` is False,
    or why the address as a whole could not be reached (no port answered);
    the scan then stops early and ``scanned`` says how far it got.
    """
    ip, timeout = _address(spec), _timeout(spec)
    ranges = scan_ranges(spec.get("ports"))
    concurrency = spec.get("concurrency", SCAN_CONCURRENCY)
    if concurrency is None:
        concurrency = SCAN_CONCURRENCY
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= SCAN_CONCURRENCY_MAX
    ):
        raise ProbeError(f"'concurrency' must be an integer 1-{SCAN_CONCURRENCY_MAX}, got {concurrency!r}")
    # Blocking and busy: run it on a thread of its own so the vantage's other probes
    # go on. A thread started from this (setns'd) thread inherits its namespace; checked.
    return await v.loop.run_in_executor(None, _scan_here, v.ns_id, ip, ranges, timeout, concurrency)


def scan_ranges(ports) -> list:
    """``[[lo, hi], ...]`` (inclusive, 1-65535) -> sorted, merged ``[(lo, hi), ...]``."""
    if ports is None:
        return [(1, 65535)]
    if not isinstance(ports, list) or not ports:
        raise ProbeError(f"'ports' must be a non-empty list of [lo, hi], got {ports!r}")
    spans = []
    for item in ports:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or any(isinstance(p, bool) or not isinstance(p, int) for p in item)
            or not 1 <= item[0] <= item[1] <= 65535
        ):
            raise ProbeError(f"'ports' entries must be [lo, hi] with 1 <= lo <= hi <= 65535, got {item!r}")
        spans.append((item[0], item[1]))
    spans.sort()
    merged = [spans[0]]
    for lo, hi in spans[1:]:
        last_lo, last_hi = merged[-1]
        if lo <= last_hi + 1:
            merged[-1] = (last_lo, max(last_hi, hi))
        else:
            merged.append((lo, hi))
    return merged


def _scan_here(ns_id, ip, ranges, timeout: float, concurrency: int) -> dict:
    if ns_id is not None:
        try:
            here = _ns_id("/proc/thread-self/ns/net")
        except OSError:
            here = ns_id
        if here != ns_id:
            return {
                "state": "error",
                "detail": "scan thread is not in the vantage's network namespace",
            }
    return tcp_scan(ip, ranges, timeout, concurrency)


def _scan_width(want: int) -> int:
    """Sockets the scan may hold at once: ``want``, within RLIMIT_NOFILE (soft raised
    towards the hard limit when needed)."""
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 256
    soft = _raise_nofile(in_use + want + _SCAN_FD_RESERVE)
    if soft is None:
        return want
    return max(1, min(want, soft - in_use - _SCAN_FD_RESERVE))


def _raise_nofile(need: int, fallback: int = 256 + _SCAN_FD_RESERVE) -> int | None:
    """Raise RLIMIT_NOFILE's soft limit towards ``need`` (never past the hard one).

    Returns the soft limit now in force; None when it is unlimited; ``fallback`` where the
    platform has no ``resource`` module."""
    try:
        import resource
    except ImportError:
        return fallback
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def _queued_icmp(sock: socket.socket, v6: bool, port: int):
    """(state, detail) of the ICMP error queued (IP_RECVERR) for our SYN to ``port``.

    Like :func:`_icmp_error`, but a scan reuses sockets, so the queue may still hold
    errors about earlier ports: each entry carries the offending TCP header, and
    only one whose destination port is ``port`` counts (older ones are drained).
    """
    for _ in range(64):
        try:
            data, ancdata, _flags, _addr = sock.recvmsg(8, 512, socket.MSG_ERRQUEUE)
        except OSError:
            return None
        if len(data) < 4 or struct.unpack_from("!H", data, 2)[0] != port:
            continue
        found = _classify_recverr(ancdata, v6)
        if found is not None:
            return found
    return None


class _Scan:
    """One connect scan. Single-threaded; sockets are non-blocking.

    Speed comes from asking the kernel as little as possible. A non-blocking
    connect() to a loopback or local-bridge address is usually settled by the
    time it returns (the RST or SYN-ACK is processed as the call releases the
    socket), so a second connect() on the same socket reads the outcome:
    ECONNREFUSED (and the socket is reset to unconnected: Linux lets it dial
    again, so one socket serves thousands of closed ports), 0 (connected),
    EALREADY (still waiting: watched with a selector until it settles or its
    deadline passes). Two system calls per closed port, no socket()/close().
    """

    def __init__(self, ip, ranges, timeout: float, concurrency: int) -> None:
        self.family, base = _sockaddr(ip, 0)
        self.head, self.tail = base[:1], base[2:]
        self.v6 = self.family == socket.AF_INET6
        self.ip = ip
        self.timeout = timeout
        self.width = _scan_width(concurrency)
        self.ranges = ranges
        self.total = sum(hi - lo + 1 for lo, hi in ranges)
        self.spare: list = []  # sockets reset by a refused connect, ready to dial again
        self.pending: dict = {}  # fd -> (sock, port, deadline)
        self.expiry: deque = deque()  # (deadline, fd, sock), in dial order
        self.selector = selectors.DefaultSelector()
        self.opened: list = []
        self.closed = 0
        self.filtered: list = []
        self.filtered_reasons: dict = {}
        self.errors: dict = {}
        self.answered = 0  # ports that got open or closed: the address is reachable
        self.unreachable = None
        self.self_connects = 0
        self.retries: dict = {}  # port -> re-dials so far
        self.redial: list = []  # ports to dial again
        self.own_ends: set = set()  # local ends of our sockets that got connected
        self.scanned = 0

    # -- outcomes

    def _settled(self, sock, port: int, err: int) -> None:
        """Record the outcome ``err`` (0 or an errno) of dialling ``port`` on ``sock``."""
        if err == errno.ECONNREFUSED:
            self.closed += 1
            self.answered += 1
            self.scanned += 1
            self.spare.append(sock)
            return
        if err == 0:
            self._connected(sock, port)
            return
        state, detail = _queued_icmp(sock, self.v6, port) or _classify(err)
        sock.close()
        self._failed(port, state, detail)

    def _failed(self, port: int, state: str, detail: str) -> None:
        if state == "unreachable":
            if not self.answered:
                self.unreachable = f"{_host_text(self.ip)}: {detail}"
                return
            state = "filtered"  # this port only, on an address that answers (as nmap)
        self.scanned += 1
        if state == "closed":
            self.closed += 1
            self.answered += 1
        elif state == "filtered":
            self._filter(port, detail)
        else:
            self.errors[detail] = self.errors.get(detail, 0) + 1

    def _filter(self, port: int, reason: str) -> None:
        self.filtered.append(port)
        self.filtered_reasons[reason] = self.filtered_reasons.get(reason, 0) + 1

    def _connected(self, sock, port: int) -> None:
        try:
            local, peer = sock.getsockname()[:2], sock.getpeername()[:2]
        except OSError:  # connected, then gone before we looked: the handshake completed
            local = peer = None
        ours = peer is not None and (peer == local or peer in self.own_ends)
        if not ours and peer is not None and peer[0] == local[0] and self.pending:
            ours = peer in self._pending_ends()  # simultaneous open with one of ours
        if local is not None:
            self.own_ends.add(local)
        if ours:  # abortive close: no TIME_WAIT keeps the port from a re-dial
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        sock.close()
        if ours:
            # A TCP self-connect (the kernel picked the dialled port as our own
            # source port) or two of our sockets meeting: no answer from the
            # address at all. Dial it again; if that keeps happening, call it closed
            # (the port was free to be our source port: nothing listens on it).
            self.self_connects += 1
            tries = self.retries.get(port, 0)
            if tries < SCAN_RETRIES:
                self.retries[port] = tries + 1
                self.redial.append(port)
            else:
                self.closed += 1
                self.answered += 1
                self.scanned += 1
            return
        self.opened.append(port)
        self.answered += 1
        self.scanned += 1

    def _icmp_answer(self, sock, port: int) -> bool:
        """Settle a connect still in progress by a queued ICMP error, if there is one."""
        answer = _queued_icmp(sock, self.v6, port)
        if answer is None:
            return False
        sock.close()
        self._failed(port, *answer)
        return True

    def _pending_ends(self) -> set:
        ends = set()
        for sock, _port, _deadline in self.pending.values():
            try:
                ends.add(sock.getsockname()[:2])
            except OSError:
                pass
        return ends

    # -- dialling

    def _socket(self):
        if self.spare:
            return self.spare.pop()
        sock = socket.socket(self.family, socket.SOCK_STREAM | _SOCK_NONBLOCK)
        if not _SOCK_NONBLOCK:
            sock.setblocking(False)
        _enable_recverr(sock, self.v6)  # once per socket; sockets are reused
        return sock

    def _dial(self, port: int) -> bool:
        """Start dialling ``port``; False if it must wait for sockets in flight to finish."""
        try:
            sock = self._socket()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) and self.pending:
                self.width = max(1, len(self.pending))  # the fd budget was optimistic
                return False
            state, detail = _classify(e.errno)
            self._failed(port, state, detail)
            return True
        addr = self.head + (port,) + self.tail
        err = sock.connect_ex(addr)
        if err == errno.EINPROGRESS:
            err = sock.connect_ex(addr)  # usually settled already: read the outcome
            if err == errno.EALREADY:
                if self._icmp_answer(sock, port):
                    return True
                fd = sock.fileno()
                deadline = time.monotonic() + self.timeout
                self.pending[fd] = (sock, port, deadline)
                self.expiry.append((deadline, fd, sock))
                self.selector.register(fd, selectors.EVENT_WRITE)
                return True
        elif err in (errno.EADDRNOTAVAIL, errno.EAGAIN) and (self.pending or self.answered):
            sock.close()
            if self.pending:  # out of source ports for now: let some finish first
                return False
            # The address answered before: this is our side running out of source ports.
            self.scanned += 1
            detail = f"{_errname(err)} (no free source port here)"
            self.errors[detail] = self.errors.get(detail, 0) + 1
            return True
        self._settled(sock, port, err)
        return True

    def _wait(self) -> None:
        """Settle whatever is ready among the sockets in flight, then expire the late ones."""
        deadline = self.expiry[0][0] if self.expiry else time.monotonic()
        for key, _events in self.selector.select(max(0.0, deadline - time.monotonic())):
            fd = key.fd
            sock, port, _ = self.pending[fd]
            err = sock.connect_ex(self.head + (port,) + self.tail)
            if err == errno.EALREADY:
                # Still SYN_SENT: woken by an ICMP error that arrived while the
                # socket was busy (a soft error, queued by IP_RECVERR), or spuriously.
                pending = self.pending.pop(fd)
                self.selector.unregister(fd)
                if not self._icmp_answer(sock, port):  # spurious: keep waiting
                    self.pending[fd] = pending
                    self.selector.register(fd, selectors.EVENT_WRITE)
                continue
            self.selector.unregister(fd)
            del self.pending[fd]
            self._settled(sock, port, err)
        now = time.monotonic()
        while self.expiry:
            deadline, fd, sock = self.expiry[0]
            entry = self.pending.get(fd)
            if entry is None or entry[0] is not sock:
                self.expiry.popleft()  # settled earlier
                continue
            if deadline > now:
                break
            self.expiry.popleft()
            self.selector.unregister(fd)
            del self.pending[fd]
            sock.close()
            self.scanned += 1
            self._filter(entry[1], f"no answer within {self.timeout:g} s")

    def _next(self, ports):
        port = next(ports, None)
        if port is None and self.redial:
            port = self.redial.pop()
        return port

    def run(self) -> None:
        ports = (p for lo, hi in self.ranges for p in range(lo, hi + 1))
        port = self._next(ports)
        try:
            while self.unreachable is None:
                while port is not None and len(self.pending) < self.width:
                    if not self._dial(port):
                        break  # keep this port for when sockets in flight are done
                    if self.unreachable is not None:
                        return
                    port = self._next(ports)
                if self.pending:
                    self._wait()
                if port is None:
                    port = self._next(ports)  # re-dials queued by the last outcomes
                    if port is None and not self.pending:
                        return
        finally:
            for sock, _port, _deadline in self.pending.values():
                sock.close()
            self.pending.clear()
            for sock in self.spare:
                sock.close()
            self.spare.clear()
            self.selector.close()

    def result(self, seconds: float) -> dict:
        filtered = sorted(self.filtered)
        return {
            "state": "ok",
            "address": str(self.ip),
            "ports_total": self.total,
            "scanned": self.scanned,
            "open": sorted(self.opened),
            "closed_count": self.closed,
            "filtered": filtered[:SCAN_FILTERED_LIST_MAX],
            "filtered_count": len(filtered),
            "filtered_reasons": self.filtered_reasons,
            "unreachable": self.unreachable or False,
            "errors": self.errors,
            "self_connects": self.self_connects,
            "concurrency": self.width,
            "seconds": round(seconds, 4),
        }


def tcp_scan(ip, ranges, timeout: float = DEFAULT_TIMEOUT, concurrency: int = SCAN_CONCURRENCY) -> dict:
    """Connect-scan ``ip`` (an ipaddress object) over ``ranges`` from this thread's namespace."""
    t0 = time.perf_counter()
    scan = _Scan(ip, ranges, timeout, concurrency)
    scan.run()
    return scan.result(time.perf_counter() - t0)


# ---------------------------------------------------------------- running a request

_libc = None
_libc_lock = threading.Lock()


def enter_netns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns = getattr(os, "setns", None)  # Python >= 3.12
        if setns is not None:
            setns(fd, CLONE_NEWNET)
            return
        global _libc
        with _libc_lock:
            if _libc is None:
                import ctypes

                _libc = ctypes.CDLL(None, use_errno=True)
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def _fresh(defaults: dict) -> dict:
    return {k: (list(val) if isinstance(val, list) else val) for k, val in defaults.items()}


async def _run_one(v: Vantage, spec: dict) -> dict:
    kind = spec["kind"]
    result = {"id": spec["id"], "kind": kind, "state": "error"}
    result.update(_fresh(RESULT_DEFAULTS.get(kind, {})))
    result["detail"] = None
    fn = PROBES.get(kind)
    if fn is None:
        result["detail"] = f"unknown probe kind {kind!r} (known: {', '.join(sorted(PROBES))})"
        return result
    try:
        result.update(await fn(v, spec))
    except ProbeError as e:
        result.update(state="error", detail=str(e))
    except Exception as e:
        result.update(state="error", detail=f"probe failed: {type(e).__name__}: {e}")
    return result


async def _run_vantage(vreq: dict, limit: int, ns_id) -> list:
    v = Vantage(vreq["id"], vreq.get("netns"), vreq.get("root"), limit, ns_id)
    return list(await asyncio.gather(*(_run_one(v, p) for p in vreq["probes"])))


def _vantage_thread(vreq: dict, limit: int, out: list, index: int) -> None:
    answer = {"id": vreq["id"], "error": None, "results": []}
    try:
        netns = vreq.get("netns")
        if netns:
            try:
                enter_netns(netns)
            except OSError as e:
                reason = f"[Errno {e.errno}] {os.strerror(e.errno)}" if e.errno else str(e)
                answer["error"] = f"cannot enter {netns}: {reason}"
                return
        try:
            ns_id = _ns_id("/proc/thread-self/ns/net")
        except OSError:  # no /proc: only the sockets probe needs it, and says so
            ns_id = None
        answer["results"] = asyncio.run(_run_vantage(vreq, limit, ns_id))
    except BaseException as e:
        answer["results"] = []
        answer["error"] = f"agent failure: {type(e).__name__}: {e}"
    finally:
        out[index] = answer


def _fd_budget(n_vantages: int, n_probes: int) -> int:
    """Sockets in flight per vantage: <= MAX_CONCURRENCY and within RLIMIT_NOFILE.

    The soft limit is raised (up to the hard one) only when the batch needs it.
    """
    reserve = 64 + 8 * n_vantages  # stdio, each loop's epoll + self-pipe, /proc reads
    want = reserve + min(n_probes, MAX_CONCURRENCY * max(n_vantages, 1))
    soft = _raise_nofile(want, fallback=1024)
    if soft is None:
        soft = want
    return max(1, min(MAX_CONCURRENCY, (soft - reserve) // max(n_vantages, 1)))


def _validate(request) -> None:
    if not isinstance(request, dict):
        raise _RequestError("request must be a JSON object")
    vantages = request.get("vantages")
    if not isinstance(vantages, list):
        raise _RequestError("'vantages' must be a list")
    for i, v in enumerate(vantages):
        where = f"vantages[{i}]"
        if not isinstance(v, dict):
            raise _RequestError(f"{where} must be an object")
        if not isinstance(v.get("id"), str):
            raise _RequestError(f"{where}.id must be a string")
        netns = v.get("netns")
        if netns is not None and (not isinstance(netns, str) or not netns):
            raise _RequestError(f"{where}.netns must be a path or null")
        if v.get("root") is not None and not isinstance(v.get("root"), str):
            raise _RequestError(f"{where}.root must be a path or null")
        probes = v.get("probes")
        if not isinstance(probes, list):
            raise _RequestError(f"{where}.probes must be a list")
        for j, p in enumerate(probes):
            pwhere = f"{where}.probes[{j}]"
            if not isinstance(p, dict):
                raise _RequestError(f"{pwhere} must be an object")
            if not isinstance(p.get("id"), str):
                raise _RequestError(f"{pwhere}.id must be a string")
            if not isinstance(p.get("kind"), str):
                raise _RequestError(f"{pwhere}.kind must be a string")


def run_request(request: dict) -> dict:
    """Run every vantage's probes (vantages in parallel threads); the response dict.

    A malformed request gives ``{"agent": ..., "error": "...", "vantages": []}``.
    """
    try:
        _validate(request)
    except _RequestError as e:
        return {"agent": AGENT, "error": f"malformed request: {e}", "vantages": []}
    vantages = request["vantages"]
    limit = _fd_budget(len(vantages), sum(len(v["probes"]) for v in vantages))
    out: list = [None] * len(vantages)
    threads = [
        threading.Thread(
            target=_vantage_thread,
            args=(v, limit, out, i),
            name=f"looplab-vantage-{i}",
            daemon=True,
        )
        for i, v in enumerate(vantages)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"agent": AGENT, "vantages": out}


USAGE = """usage: python -I agent.py < request.json
Reads one probe request (JSON) on stdin, writes one JSON response on stdout.
Exit 0; 2 when the request is malformed (the response then has "error")."""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv:
        print(
            f"agent: unexpected arguments {' '.join(argv)!r} (the request is read from stdin)",
            file=sys.stderr,
        )
        return 2
    raw = sys.stdin.buffer.read()
    try:
        request = json.loads(raw)
    except ValueError as e:
        response = {
            "agent": AGENT,
            "error": f"malformed request: not JSON: {e}",
            "vantages": [],
        }
    else:
        response = run_request(request)
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()
    return 2 if response.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
