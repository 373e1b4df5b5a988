"""Two kernel limits that can make a probe see silence where the network would answer.

- The neighbour table (ARP for IPv4, NDP for IPv6) is one table for every namespace of the
  host, capped by ``net.ipv4.neigh.default.gc_thresh3`` (1024 by default) and only entries
  older than 5 s can be evicted to make room. A lab of ~50 services talking to each other
  needs about that many entries: past the cap the kernel logs "neighbor table overflow!",
  drops the SYN (a TCP probe times out: `filtered`) or fails the send (UDP: ENOBUFS). The
  table's `table_fulls` counter (``/proc/net/stat/arp_cache``) says when it happened.
- ICMP errors are rate-limited per destination by the kernel that sends them
  (``net.ipv4.icmp_ratelimit`` 1000 ms; ``net.ipv6.icmp.ratelimit``): a bucket of 6
  (XRLIM_BURST_FACTOR) refilled one per interval, loopback exempt. Past 6 closed UDP ports
  of one target probed at once from one vantage, the port-unreachable that makes a UDP port
  `closed` is not sent, and the probe sees `open|filtered`. :class:`IcmpBudget` mirrors that
  bucket so the UDP probe can send again once the target's kernel may answer.

An observation either limit may have forged carries a ``suspect`` text: the orchestrator
probes the cell again and never judges it on that observation alone.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable

NEIGH_STATS = ("/proc/net/stat/arp_cache", "/proc/net/stat/ndisc_cache")
SILENT = frozenset({"filtered", "open|filtered"})  # what a packet that never left looks like (a timeout)
PACKET_KINDS = frozenset({"tcp", "udp", "http", "icmp"})  # the kinds whose state is what a packet met
ICMP_BURST = 6  # XRLIM_BURST_FACTOR: the kernel's per-peer bucket holds 6 intervals
ICMP_INTERVAL_S = 1.0 * 1.1  # net.ipv4.icmp_ratelimit's default (1000 ms), with a margin for jiffies
NEIGHBOUR_FULL = "neighbour-table-full"
ICMP_RATELIMIT = "icmp-ratelimit"


def table_fulls(paths: Iterable[str] = NEIGH_STATS) -> int | None:
    """How many times the host's neighbour tables were full (the sum over CPUs); None if unreadable."""
    total, read = 0, False
    for path in paths:
        try:
            with open(path) as fh:
                lines = fh.read().split("\n")
        except OSError:
            continue
        total += parse_table_fulls(lines)
        read = True
    return total if read else None


def parse_table_fulls(lines: list[str]) -> int:
    """The `table_fulls` column of a /proc/net/stat/*_cache text (hex, one line per CPU), summed."""
    head = lines[0].split() if lines else []
    if "table_fulls" not in head:
        return 0
    col = head.index("table_fulls")
    return sum(int(row.split()[col], 16) for row in lines[1:] if len(row.split()) > col)


def neighbour_suspect(overflows: int) -> str:
    return (
        f"{NEIGHBOUR_FULL}: the host's neighbour table (ARP/NDP, shared by every namespace; "
        f"net.ipv4.neigh.default.gc_thresh3) was full {overflows} time(s) while this vantage probed, "
        "so the packet or its answer may have been dropped"
    )


def mark_neighbour_overflow(results: list[dict], specs: list[dict], overflows: int | None) -> None:
    """Mark each result a full neighbour table could have forged: any ENOBUFS send (the failed
    entry's own errno) and, when the table was full (`overflows` > 0), every silence from a
    non-loopback address. Not only the vantage's entry for its next hop counts: the target needs
    one for the vantage to answer, in its own namespace, so no check on this side can clear it.
    `specs` are the results' probes, in order."""
    for result, spec in zip(results, specs):
        if result.get("suspect") or result.get("kind") not in PACKET_KINDS:
            continue
        enobufs = result.get("state") == "error" and errno.errorcode[errno.ENOBUFS] in str(result.get("detail") or "")
        silent = result.get("state") in SILENT and (overflows or 0) > 0 and not _loopback(spec.get("address"))
        if enobufs or silent:
            result["suspect"] = neighbour_suspect(overflows or 0)


def _loopback(address: object) -> bool:
    try:
        return ipaddress.ip_address(str(address).strip("[]")).is_loopback
    except ValueError:
        return False


class IcmpBudget:
    """A mirror of the target kernel's ICMP error bucket per (vantage namespace, destination).

    `take` spends a token for a datagram about to be sent (whether the port will answer or not:
    spending too many only makes the probe send again, never trust a silence it should not).
    Shared by the threads of one agent process, so a later batch sees what an earlier one spent.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, when)

    def _now(self, key: object) -> float:
        now = self._clock()
        tokens, when = self._buckets.get(key, (float(ICMP_BURST), now))
        return min(float(ICMP_BURST), tokens + (now - when) / ICMP_INTERVAL_S)

    def take(self, key: object) -> bool:
        """Spend a token if one is there (True); False, spending nothing, if none is."""
        with self._lock:
            tokens = self._now(key)
            ok = tokens >= 1.0 - 1e-9  # float rounding of (now - when) / interval
            self._buckets[key] = (tokens - 1.0 if ok else tokens, self._clock())
            return ok

    def wait_s(self, key: object) -> float:
        """Seconds until a token will be there (0.0 if one is)."""
        with self._lock:
            return max(0.0, (1.0 - self._now(key)) * ICMP_INTERVAL_S)


def icmp_suspect(address: str, waited_s: float) -> str:
    return (
        f"{ICMP_RATELIMIT}: more closed-port probes went to {address} at once than its kernel sends "
        f"port-unreachables for (6 per peer, then one per net.ipv4.icmp_ratelimit), and sending again "
        f"for {waited_s:.0f} s did not get under that limit"
    )


def paced_key(ns_id: object, ip) -> tuple | None:
    """The bucket a datagram to `ip` spends from; None for loopback (the kernel never limits it)."""
    return None if ip.is_loopback else (ns_id, str(ip))
