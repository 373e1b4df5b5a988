"""Probe kind ``sockets``: the namespace's listening sockets from /proc, like ``ss -ltnup``."""

from __future__ import annotations

import ipaddress
import os
import sys

from .core import Vantage, probe
from .net import netns_id


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


def socket_owners(inodes, ns_id) -> dict:
    """inode -> (pid, command) for processes in namespace ``ns_id`` holding the sockets."""
    want = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict = {}
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    for pid in pids:
        if len(found) == len(want):
            break
        try:
            if netns_id(f"/proc/{pid}/ns/net") != ns_id:
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


def _command(pid: int) -> str | None:
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
    """True if /proc/net/if_inet6 (its text) lists ::1 on ``lo``."""
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
    here = netns_id(f"{proc}/ns/net")
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
