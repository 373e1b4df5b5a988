"""Helpers the probe kinds share: errno and ICMP (IP_RECVERR) classification, probe
parameter parsing, non-blocking socket plumbing, and the open-files budget."""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket
import struct
import time

from .core import ProbeFailed, Vantage

DEFAULT_TIMEOUT = 1.0
BANNER_MAX = 256  # bytes of a banner or datagram reply kept in a result
MAX_CONCURRENCY = 1024  # sockets in flight per vantage, further bounded by RLIMIT_NOFILE
FD_RESERVE = 64  # fds left for the rest of the agent (other vantages, /proc reads)

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

# ---------------------------------------------------------------- errno and ICMP


def errname(err: int) -> str:
    return f"{errno.errorcode.get(err, 'E' + str(err))}: {os.strerror(err)}"


def classify(err: int) -> tuple[str, str]:
    """(state, detail) for a failed connect/send/recv errno."""
    if err == errno.ECONNREFUSED:
        return "closed", errname(err)
    if err in _UNREACHABLE:
        return "unreachable", errname(err)
    if err in _FILTERED:
        return "filtered", errname(err)
    return "error", errname(err)


def enable_recverr(sock: socket.socket, v6: bool) -> None:
    """IP(V6)_RECVERR: ICMP errors become hard errors, readable from the error queue."""
    try:
        if v6:
            sock.setsockopt(_SOL_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(_SOL_IP, _IP_RECVERR, 1)
    except OSError:
        pass


def icmp_error(sock: socket.socket, v6: bool) -> tuple[str, str] | None:
    """Read one queued ICMP error (IP_RECVERR); (state, detail) or None."""
    try:
        _data, ancdata, _flags, _addr = sock.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    except OSError:
        return None
    return classify_recverr(ancdata, v6)


def queued_icmp(sock: socket.socket, v6: bool, port: int) -> tuple[str, str] | None:
    """(state, detail) of the ICMP error queued (IP_RECVERR) for our SYN to ``port``.

    Like :func:`icmp_error`, but a scan reuses sockets, so the queue may still hold
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
        found = classify_recverr(ancdata, v6)
        if found is not None:
            return found
    return None


def classify_recverr(ancdata, v6: bool) -> tuple[str, str] | None:
    """(state, detail) from the sock_extended_err of an IP(V6)_RECVERR message, or None."""
    for level, ctype, cdata in ancdata:
        if (level, ctype) not in ((_SOL_IP, _IP_RECVERR), (_SOL_IPV6, _IPV6_RECVERR)):
            continue
        if len(cdata) < 8:
            continue
        ee_errno, origin, itype, code = struct.unpack_from("=IBBB", cdata)
        what = f"ICMP{'v6' if v6 else ''} type {itype} code {code} ({errname(ee_errno)})"
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
        return classify(ee_errno)[0], what
    return None


# ---------------------------------------------------------------- probe parameters


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


def spec_number(spec: dict, key: str, default: float, minimum: float = 0.0) -> float:
    value = spec.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ProbeFailed(f"{key!r} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def spec_timeout(spec: dict) -> float:
    value = spec_number(spec, "timeout", DEFAULT_TIMEOUT)
    if value <= 0:
        raise ProbeFailed(f"'timeout' must be > 0, got {value!r}")
    return value


def spec_address(spec: dict):
    """The IP literal to dial (never a name: names would need DNS)."""
    address = spec.get("address")
    if not isinstance(address, str):
        raise ProbeFailed(f"'address' must be an IP address string, got {address!r}")
    try:
        return parse_ip(address)
    except ValueError:
        raise ProbeFailed(f"'address' must be an IP literal (names are not resolved), got {address!r}") from None


@functools.lru_cache(maxsize=4096)
def parse_ip(address: str):
    return ipaddress.ip_address(address.strip("[]"))


def spec_port(spec: dict) -> int:
    port = spec.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProbeFailed(f"'port' must be an integer 1-65535, got {port!r}")
    return port


def sockaddr(ip, port: int) -> tuple[int, tuple]:
    """(family, address) to connect a socket to ``ip`` (an ipaddress object) and ``port``."""
    if ip.version == 4:
        return socket.AF_INET, (str(ip), port)
    scope = 0
    if ip.scope_id:
        scope = int(ip.scope_id) if ip.scope_id.isdigit() else socket.if_nametoindex(ip.scope_id)
    return socket.AF_INET6, (str(ip).split("%")[0], port, 0, scope)


def host_text(ip, port: int | None = None) -> str:
    """``ip`` as a URL writes it (IPv6 in brackets), with ``:port`` when given."""
    text = f"[{ip}]" if ip.version == 6 else str(ip)
    return text if port is None else f"{text}:{port}"


# ---------------------------------------------------------------- sockets


async def wait_fd(loop, fd: int, write: bool, timeout: float) -> bool:
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


def new_socket(family: int, kind: int, proto: int = 0) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    return sock


def is_self_connect(sock: socket.socket) -> bool:
    """A TCP socket connected to itself (a loopback port in the ephemeral range)."""
    try:
        return sock.getsockname()[:2] == sock.getpeername()[:2]
    except OSError:
        return False


def _settled(sock: socket.socket) -> int | None:
    """The connect outcome if already known (0 or an errno), else None."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return err
    try:
        sock.getpeername()
    except OSError:
        return None
    return 0


async def tcp_connect(v: Vantage, ip, port: int, timeout: float):
    """Connect; returns (sock or None, state, detail, latency_ms)."""
    family, address = sockaddr(ip, port)
    t0 = time.perf_counter()
    try:
        sock = new_socket(family, socket.SOCK_STREAM)
    except OSError as e:
        state, detail = classify(e.errno)
        return None, state, detail, elapsed_ms(t0)
    try:
        # IP_RECVERR: ICMP errors become hard errors (IPv6 TCP otherwise waits
        # out the timeout) and their type/code can be read (admin-prohibited).
        enable_recverr(sock, family == socket.AF_INET6)
        err = sock.connect_ex(address)
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            err = _settled(sock)  # loopback handshakes often finish inside connect()
        if err is None:
            if not await wait_fd(v.loop, sock.fileno(), True, timeout):
                sock.close()
                return None, "filtered", f"no answer within {timeout:g} s", elapsed_ms(t0)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        latency = elapsed_ms(t0)
        if err == errno.ECONNRESET:  # handshake done, then reset before we looked
            sock.close()
            return (
                None,
                "reset",
                f"{errname(err)} right after connect, before any data",
                latency,
            )
        if err:
            icmp = None if err == errno.ECONNREFUSED else icmp_error(sock, family == socket.AF_INET6)
            state, detail = icmp or classify(err)
            sock.close()
            return None, state, detail, latency
        if is_self_connect(sock):
            sock.close()
            return None, "closed", "self-connect discarded", latency
        return sock, "open", None, latency
    except BaseException:
        sock.close()
        raise


async def await_reply(
    v: Vantage, sock: socket.socket, v6: bool, t0: float, timeout: float, bufsize: int, silence: tuple, accept
) -> dict:
    """Wait for a datagram that `accept` turns into a result (None: not ours, keep waiting);
    an ICMP error read from the error queue, or `silence` when the timeout passes."""
    deadline = t0 + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not await wait_fd(v.loop, sock.fileno(), False, left):
            return {"state": silence[0], "latency_ms": elapsed_ms(t0), "detail": silence[1]}
        try:
            data = sock.recv(bufsize)
        except BlockingIOError:
            continue
        except OSError as e:
            state, detail = icmp_error(sock, v6) or classify(e.errno)
            return {"state": state, "latency_ms": elapsed_ms(t0), "detail": detail}
        answer = accept(data)
        if answer is not None:
            return {"latency_ms": elapsed_ms(t0), **answer}


def netns_id(path: str) -> tuple[int, int]:
    """(st_dev, st_ino) of a network namespace file: equal ids, same namespace."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


# ---------------------------------------------------------------- open files


def raise_nofile(need: int, fallback: int = 256 + FD_RESERVE) -> int | None:
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


def fd_budget(n_vantages: int, n_probes: int) -> int:
    """Sockets in flight per vantage: <= MAX_CONCURRENCY and within RLIMIT_NOFILE.

    The soft limit is raised (up to the hard one) only when the batch needs it.
    """
    reserve = 64 + 8 * n_vantages  # stdio, each loop's epoll + self-pipe, /proc reads
    want = reserve + min(n_probes, MAX_CONCURRENCY * max(n_vantages, 1))
    soft = raise_nofile(want, fallback=1024)
    if soft is None:
        soft = want
    return max(1, min(MAX_CONCURRENCY, (soft - reserve) // max(n_vantages, 1)))
