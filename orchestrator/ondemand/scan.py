"""Scan: every port of one address, from one vantage of a running lab (like nmap -sT), inside the lab only."""

from __future__ import annotations

import ipaddress
import math
import re
import time
from dataclasses import dataclass

from ..addresses import answers
from ..errors import LooplabError
from ..plan import cell_for_target
from ..readiness import take_inventory
from ..runtime.base import LiveLab
from ..runtime.state import HOST
from .attach import open_lab, run_one

DEFAULT_SCAN_PORTS = "1-65535"
_SCAN_ROUNDS_ALLOWANCE = 256  # sockets in flight assumed when bounding the agent's run time


@dataclass(frozen=True)
class ScanTarget:
    text: str  # as the user wrote it
    address: str  # the IP literal the agent dials
    namespace: str | None  # the namespace that owns `address` (whose sockets answer), if known
    why: str  # why the address is allowed: loopback, a member's address, a gateway


def parse_ports(spec: str) -> list[list[int]]:
    """ "1-65535", "22,80,8000-8100" -> [[lo, hi], ...] (inclusive, in the order written)."""
    ranges: list[list[int]] = []
    for part in (spec or "").split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d{1,5})(?:\s*-\s*(\d{1,5}))?", part)
        if not m:
            raise LooplabError(f"--ports {spec!r}: write ports and ranges like 22,80,8000-8100 (got {part!r})")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if not 1 <= lo <= hi <= 65535:
            raise LooplabError(f"--ports {spec!r}: {part!r} is not a range within 1-65535")
        ranges.append([lo, hi])
    return ranges


def resolve_scan_target(live: LiveLab, vantage: str, text: str) -> ScanTarget:
    """The address to scan for ADDRESS|NAME as seen from `vantage`, or a LooplabError.

    Allowed: loopback addresses, the lab's container addresses and the gateways of the
    lab's networks (safety: a scan never leaves the lab). Names: a lab service or
    observer (its address from the vantage, as the matrix dials it), `host` (the
    vantage's gateway, or 127.0.0.1 on the host), `localhost` is not guessed at.
    """
    lab, state = live.lab, live.state
    here = state.namespace_of(vantage)
    raw = text.strip()
    literal = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        ip = None
    if ip is None:
        names = {s.name for s in lab.services} | set(state.members)
        if raw != "host" and raw not in names:
            raise LooplabError(
                f"scan target {text!r}: not an address, `host`, or a member of lab {lab.name} "
                f"({', '.join(sorted(names))})"
            )
        if raw != "host":
            owner = state.namespace_of(raw)
            if owner != HOST and not state.members[owner].addresses:
                raise LooplabError(
                    f"scan target {text!r}: {raw} has no address on a lab network "
                    f"(network_mode none?); scan 127.0.0.1 --from {raw} instead"
                )
        address = cell_for_target(vantage, f"{raw}:1", "tcp", lab, state).address
        ip = ipaddress.ip_address(address)
    address = str(ip)
    if ip.is_loopback:
        return ScanTarget(text, address, here, "a loopback address of the vantage")
    for member in state.members.values():
        if address in member.addresses.values():
            return ScanTarget(text, address, member.namespace, f"the address of {member.name}")
    for net in state.networks.values():
        if address == net.gateway:
            return ScanTarget(text, address, HOST, f"the gateway of network {net.name}")
    raise LooplabError(
        f"refusing to scan {address}: it is not a loopback address, an address of lab "
        f"{lab.name} or one of its gateways (looplab scans nothing outside the lab)"
    )


def _owners(sockets: list[dict], address: str, port: int) -> list[dict]:
    """The listening TCP sockets in an inventory that answer `address`:`port`."""
    return [
        {"port": port, "address": s["address"], "pid": s.get("pid"), "command": s.get("command")}
        for s in sockets
        if s.get("proto") == "tcp" and s.get("port") == port and answers(s.get("address", ""), address)
    ]


def scan(
    lab_name: str | None,
    vantage: str,
    address_or_name: str,
    ports_spec: str = DEFAULT_SCAN_PORTS,
    launcher: str = "setns",
) -> dict:
    """TCP connect scan of one address from one vantage of a running lab (like `nmap -sT`).

    The answer: the agent's counts (open, closed_count, filtered, ...), the address and
    the namespace it belongs to, and `owners`: for each open port, the listening sockets
    (with pid and command) from that namespace's inventory when it could be read.
    Nothing is dialled before the target has passed the safety check.
    """
    t0 = time.perf_counter()
    ranges = parse_ports(ports_spec)
    live, launch = open_lab(lab_name, launcher, (vantage, address_or_name.strip()), inventory=False)
    target = resolve_scan_target(live, vantage, address_or_name)
    state = live.state
    known = bool(target.namespace) and target.namespace in take_inventory(state, launch, [target.namespace])
    timeout = live.lab.probe.timeout_s
    spec = {"id": "scan", "kind": "scan", "address": target.address, "ports": ranges, "timeout": timeout}
    total = sum(hi - lo + 1 for lo, hi in ranges)
    deadline = 60.0 + timeout * math.ceil(total / _SCAN_ROUNDS_ALLOWANCE)
    result = run_one(state, launch, vantage, spec, deadline)
    if result.get("state") != "ok":
        raise LooplabError(f"scan from {vantage} of {target.address} failed: {result.get('detail')}")
    sockets = state.sockets.get(target.namespace, []) if known else []
    owners = [o for port in result["open"] for o in _owners(sockets, target.address, port)] if known else None
    answer = {
        "schema": "looplab/scan@1",
        "lab": live.lab.name,
        "from": vantage,
        "target": target.text,
        "address": target.address,
        "allowed_as": target.why,
        "namespace": target.namespace,
        "inventory": known,
        "ports": ports_spec,
        "timeout_s": timeout,
    }
    answer.update({k: v for k, v in result.items() if k not in ("id", "kind", "state", "detail", "address")})
    answer["owners"] = owners
    answer["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return answer
