"""Inventories read in-process from /proc/PID (no agent, no setns): for launchers on the engine's host."""

from __future__ import annotations

from ...runtime.state import Netns
from .. import agent
from .base import Inventory


def read_inventory(netns: Netns, *, owners: bool) -> Inventory | None:
    """The namespace's sockets from /proc/PID/net and `localhost` from /proc/PID/root/etc/hosts;
    None when the process is gone or not ours to read."""
    proc = f"/proc/{netns.pid}" if netns.pid else "/proc/self"
    try:
        result = agent.socket_inventory(proc=proc, owners=owners)
        with open(f"{proc}/root/etc/hosts", encoding="utf-8", errors="replace") as f:
            hosts = agent.hosts_lookup(f.read(), "localhost")
    except OSError:
        return None
    if result.get("state") != "ok":
        return None
    return Inventory(list(result.get("sockets") or []), bool(result.get("ipv6_loopback")), hosts)
