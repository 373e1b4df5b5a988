"""Addresses and listening sockets: which socket answers a dial, and how both are written."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(address: str) -> _IP | None:
    """The address as an IP, IPv4-mapped IPv6 (::ffff:a.b.c.d) taken as the IPv4 it maps."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def answers(bind_address: str, dialled_address: str) -> bool:
    """Would a socket listening on `bind_address` accept a connection to `dialled_address`?

    0.0.0.0 answers every IPv4 address; :: answers every address, IPv4 included (dual-stack,
    Linux's default); ::ffff:a.b.c.d is a.b.c.d. Otherwise the addresses must be equal.
    """
    bound, dialled = _ip(bind_address), _ip(dialled_address)
    if bound is None or dialled is None:
        return bind_address == dialled_address
    if bound.is_unspecified:
        return bound.version == 6 or dialled.version == 4
    return bound == dialled


def host_port(address: str, port: int | str) -> str:
    """`1.2.3.4:80`, or `[::1]:80` for an IPv6 address."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def owner_text(sock: Mapping[str, Any]) -> str:
    """`pid 17 python3 serve ...` for a socket of an inventory; empty when its process is unknown."""
    if not sock.get("pid"):
        return ""
    return f"pid {sock['pid']} {sock.get('command') or ''}".strip()
