"""The order in which a client's getaddrinfo() hands out `localhost` (RFC 6724, simplified).

looplab never asks a resolver (safety): the addresses come from the namespace's own
/etc/hosts, and this module sorts them the way glibc would for a loopback name: ::1 is
preferred over 127.0.0.1 (precedence 50 vs 35) when the namespace has ::1, and moved last
when it does not (an unusable destination).
"""

from __future__ import annotations

import ipaddress


def loopback_only(addresses: list[str]) -> tuple[list[str], list[str]]:
    """`localhost` as the matrix may dial it: the loopback addresses, and the others left out. A
    container that rewrites its /etc/hosts must not steer a probe anywhere else (safety)."""
    kept, dropped = [], []
    for address in addresses:
        try:
            loopback = ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
        except ValueError:
            loopback = False
        (kept if loopback else dropped).append(address)
    return kept, dropped


def dial_order(addresses: list[str], ipv6_loopback: bool) -> list[str]:
    unique = list(dict.fromkeys(addresses))
    v6 = [a for a in unique if ":" in a]
    v4 = [a for a in unique if ":" not in a]
    return v6 + v4 if ipv6_loopback else v4 + v6
