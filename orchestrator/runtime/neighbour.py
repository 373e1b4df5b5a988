"""The LAN neighbour (`@neighbour`, opt-in with `--lan`): a plain network namespace joined to the
host by a veth pair on a link-local /30, as a machine on the user's LAN is (docs/ARCHITECTURE.md,
"The LAN neighbour").

It is not a Docker network, so Docker's isolation chains treat its traffic as coming from another
interface of the host, as they treat a LAN. It has no default route: besides its /30 it routes
only the lab's own subnets and the host's 127.0.0.1/32, all via the host's end of the pair (the
last one is how a LAN machine sends to a port published on the host's 127.0.0.1, moby#45610; its
interface accepts answers from 127.0.0.1, `route_localnet=1`, as such a machine can). Its own
loopback stays down.

A namespace has no labels, so its name carries what the Docker resources' labels carry for
`gc`: `looplab-nb-<run>-<tag>-<owner pid>-<owner host>`; the host's end of the pair is
`lnb-<tag>`. Deleting the namespace deletes the pair. Everything here runs `ip` (iproute2) and
needs root.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import secrets
import socket
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import LooplabError
from . import labels as L
from .state import Neighbour

NETNS_DIR = Path("/run/netns")
PREFIX = "looplab-nb-"
LINK_PREFIX = "lnb-"
# 169.254.224.0/20: link-local, clear of 169.254.169.254 (cloud metadata) and of the first and
# last /24, which RFC 3927 reserves; 1024 /30 blocks, one per neighbour alive on this host.
POOL = ipaddress.IPv4Network("169.254.224.0/20")
_LOCK = Path("/run/looplab-neighbour.lock")
_NAME = re.compile(r"^looplab-nb-(?P<run>[0-9a-f]+)-(?P<tag>[0-9a-f]{6})-(?P<pid>\d+)-(?P<host>[a-z0-9-]+)$")
_IP_TIMEOUT_S = 20.0


class NeighbourError(LooplabError):
    """The neighbour could not be made (or removed): which `ip` command, and what it said."""


def host_tag(hostname: str | None = None) -> str:
    """The owner host as a namespace name can carry it: lower-case letters, digits and dashes."""
    text = re.sub(r"[^a-z0-9-]+", "-", (hostname or socket.gethostname()).lower()).strip("-")
    return text[:48] or "host"


def netns_name(run_id: str, tag: str, pid: int | None = None, hostname: str | None = None) -> str:
    return f"{PREFIX}{run_id}-{tag}-{os.getpid() if pid is None else pid}-{host_tag(hostname)}"


def labels_of(name: str) -> dict[str, str] | None:
    """The labels a Docker resource of the same run would carry, read back from a namespace's
    name (None: not a neighbour's name). The owner host is this host's name when the tag matches."""
    m = _NAME.match(name)
    if m is None:
        return None
    here = socket.gethostname()
    return {
        L.MANAGED: "true",
        L.RUN: m["run"],
        L.ROLE: "neighbour",
        L.MEMBER: "@neighbour",
        L.OWNER_PID: m["pid"],
        L.OWNER_HOST: here if m["host"] == host_tag(here) else m["host"],
        L.KEEP: "false",
    }


def _ip(*args: str, netns: str | None = None, ok: Callable[[str], bool] | None = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise NeighbourError("the LAN neighbour needs `ip` (iproute2) on this machine") from None
    except subprocess.TimeoutExpired:
        raise NeighbourError(f"`{' '.join(argv)}` did not finish within {_IP_TIMEOUT_S:g}s") from None
    if done.returncode != 0 and not (ok and ok(done.stderr)):
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise NeighbourError(f"cannot make the LAN neighbour: `{' '.join(argv)}`: {why}")
    return done.stdout


def _in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 prefix the host has on an interface or in a route (a block overlapping one is taken)."""
    out = []
    for line in (_ip("-4", "-o", "addr", "show") + _ip("-4", "route", "show", "table", "all")).splitlines():
        for word in line.split():
            try:
                out.append(ipaddress.IPv4Network(word, strict=False))
            except ValueError:
                continue
    return out


def _block(tag: str, taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    blocks = list(POOL.subnets(new_prefix=30))
    start = int(tag, 16) % len(blocks)
    for i in range(len(blocks)):
        block = blocks[(start + i) % len(blocks)]
        if not any(block.overlaps(t) for t in taken if t.prefixlen > 0):
            return block
    raise NeighbourError(f"no free /30 left in {POOL} for the LAN neighbour")


def create(run_id: str, subnets: Iterable[str]) -> Neighbour:
    """Make the neighbour of run `run_id`, routing `subnets` (the lab's own) via the host. On any
    failure, or a signal, whatever was made is removed before the error propagates."""
    routes = [str(ipaddress.IPv4Network(s, strict=False)) for s in subnets if s]
    if not routes:
        raise NeighbourError("the LAN neighbour has nothing to route to: the lab's networks have no IPv4 subnet")
    tag = secrets.token_hex(3)
    name, link = netns_name(run_id, tag), f"{LINK_PREFIX}{tag}"
    routes.append("127.0.0.1/32")  # the host's loopback, as a LAN machine sends to it (moby#45610)
    _LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_LOCK, "a") as lock:  # two runs at once never pick the same /30
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            block = _block(tag, _in_use())
            host_ip, mine = (str(a) for a in list(block.hosts())[:2])
            _ip("netns", "add", name)
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("link", "set", link, "addrgenmode", "none")  # no IPv6 link-local address, so no IPv6 chatter
            _ip("addr", "add", f"{host_ip}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("link", "set", "eth0", "addrgenmode", "none", netns=name)
            _ip("addr", "add", f"{mine}/30", "dev", "eth0", netns=name)
            _ip("link", "set", "eth0", "up", netns=name)
            for route in routes:
                _ip("route", "add", route, "via", host_ip, "dev", "eth0", netns=name)
            _sysctl(name, "net/ipv4/conf/eth0/route_localnet", "1")
        except BaseException:
            remove_named(name, link)
            raise
    return Neighbour(name, str(NETNS_DIR / name), mine, host_ip, link, tuple(routes))


def _sysctl(netns: str, key: str, value: str) -> None:
    """Write a sysctl inside the namespace (/proc/sys/net shows the writer's own namespace)."""
    argv = ["ip", "netns", "exec", netns, "sh", "-c", f"echo {value} > /proc/sys/{key}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise NeighbourError(f"cannot make the LAN neighbour: {key}={value}: {done.stderr.strip() or 'refused'}")


def remove(neighbour: Neighbour | None) -> int:
    """Remove a neighbour (its namespace, and with it the veth pair); 1 if it was there. Safe twice."""
    if neighbour is None:
        return 0
    return remove_named(neighbour.name, neighbour.host_link)


def remove_named(name: str, link: str | None = None) -> int:
    gone = ("No such file", "Cannot find device", "does not exist")
    existed = (NETNS_DIR / name).exists()
    _ip("netns", "delete", name, ok=lambda err: any(g in err for g in gone))
    if link:
        _ip("link", "delete", link, ok=lambda err: any(g in err for g in gone))
    return int(existed)


def listed() -> list[str]:
    """The names of every neighbour namespace on this host (whatever run or user made it)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if labels_of(p.name) is not None)
    except OSError:
        return []


def remove_run(run_id: str) -> int:
    """Remove every neighbour of one run (a teardown that lost its handle, `down`)."""
    return sum(remove_named(n, _link_of(n)) for n in listed() if (labels_of(n) or {}).get(L.RUN) == run_id)


def remove_own(run_id: str) -> int:
    """Remove every neighbour this process made for run `run_id` (one whose handle was lost to a signal)."""
    mine = [
        n
        for n in listed()
        if (labels_of(n) or {}).get(L.RUN) == run_id and labels_of(n)[L.OWNER_PID] == str(os.getpid())
    ]
    return sum(remove_named(n, _link_of(n)) for n in mine)


def _link_of(name: str) -> str | None:
    m = _NAME.match(name)
    return f"{LINK_PREFIX}{m['tag']}" if m else None


def gc(spare: Callable[[dict[str, str]], bool]) -> int:
    """Remove the neighbours `spare(labels)` does not keep (their owner is gone); how many."""
    removed = 0
    for name in listed():
        labels = labels_of(name)
        if labels is None or spare(labels):
            continue
        removed += remove_named(name, _link_of(name))
    return removed


def refusal() -> str | None:
    """Why this process cannot make a neighbour here, in a few words; None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "it needs root (looplab makes its network namespace and veth pair itself)"
    return None
