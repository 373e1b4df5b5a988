"""Probe kind ``scan``: a TCP connect scan of one address over port ranges (like ``nmap -sT``).

:func:`tcp_scan` runs :class:`_Scan` in the calling thread's namespace; the probe runs it
on a thread of its own so the vantage's other probes go on.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import time
from collections import deque

from .core import ProbeFailed, Vantage, probe
from .net import (
    DEFAULT_TIMEOUT,
    FD_RESERVE,
    classify,
    enable_recverr,
    errname,
    host_text,
    netns_id,
    queued_icmp,
    raise_nofile,
    sockaddr,
    spec_address,
    spec_timeout,
)

SCAN_CONCURRENCY = 2048  # sockets in flight for a scan (bounded by RLIMIT_NOFILE)
SCAN_CONCURRENCY_MAX = 16384
SCAN_FILTERED_LIST_MAX = 1024  # beyond this many filtered ports only the count is given
SCAN_RETRIES = 2  # re-dials of a port whose connection met one of our own sockets
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
    ip, timeout = spec_address(spec), spec_timeout(spec)
    ranges = scan_ranges(spec.get("ports"))
    concurrency = spec.get("concurrency", SCAN_CONCURRENCY)
    if concurrency is None:
        concurrency = SCAN_CONCURRENCY
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= SCAN_CONCURRENCY_MAX
    ):
        raise ProbeFailed(f"'concurrency' must be an integer 1-{SCAN_CONCURRENCY_MAX}, got {concurrency!r}")
    # Blocking and busy: run it on a thread of its own so the vantage's other probes
    # go on. A thread started from this (setns'd) thread inherits its namespace; checked.
    return await v.loop.run_in_executor(None, _scan_here, v.ns_id, ip, ranges, timeout, concurrency)


def scan_ranges(ports) -> list:
    """``[[lo, hi], ...]`` (inclusive, 1-65535) -> sorted, merged ``[(lo, hi), ...]``."""
    if ports is None:
        return [(1, 65535)]
    if not isinstance(ports, list) or not ports:
        raise ProbeFailed(f"'ports' must be a non-empty list of [lo, hi], got {ports!r}")
    spans = []
    for item in ports:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or any(isinstance(p, bool) or not isinstance(p, int) for p in item)
            or not 1 <= item[0] <= item[1] <= 65535
        ):
            raise ProbeFailed(f"'ports' entries must be [lo, hi] with 1 <= lo <= hi <= 65535, got {item!r}")
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
            here = netns_id("/proc/thread-self/ns/net")
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
    soft = raise_nofile(in_use + want + FD_RESERVE)
    if soft is None:
        return want
    return max(1, min(want, soft - in_use - FD_RESERVE))


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
        self.family, base = sockaddr(ip, 0)
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
        state, detail = queued_icmp(sock, self.v6, port) or classify(err)
        sock.close()
        self._failed(port, state, detail)

    def _failed(self, port: int, state: str, detail: str) -> None:
        if state == "unreachable":
            if not self.answered:
                self.unreachable = f"{host_text(self.ip)}: {detail}"
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
        answer = queued_icmp(sock, self.v6, port)
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
        enable_recverr(sock, self.v6)  # once per socket; sockets are reused
        return sock

    def _dial(self, port: int) -> bool:
        """Start dialling ``port``; False if it must wait for sockets in flight to finish."""
        try:
            sock = self._socket()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) and self.pending:
                self.width = max(1, len(self.pending))  # the fd budget was optimistic
                return False
            state, detail = classify(e.errno)
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
            detail = f"{errname(err)} (no free source port here)"
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
