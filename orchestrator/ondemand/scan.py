"""Scan: every port of one address, from one vantage of a running lab (like nmap -sT), inside the lab only."""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..addresses import answers
from ..engine_rules import refuse_host_dial
from ..errors import LooplabError
from ..plan import cell_for_target
from ..probes.protocol import ProbeResult, ProbeSpec
from ..readiness import take_inventory
from ..runtime.base import LiveLab
from ..runtime.state import HOST, LabState
from .attach import open_lab, run_one

DEFAULT_SCAN_PORTS = "1-65535"
_SCAN_ROUNDS_ALLOWANCE = 256  # sockets in flight assumed when bounding the agent's run time


@dataclass(frozen=True)
class ScanTarget:
    text: str  # as the user wrote it
    address: str  # the IP literal the agent dials
    namespace: str | None  # the namespace that owns `address` (whose sockets answer), if known
    why: str  # why the address is allowed: loopback, a member's address, a gateway


@dataclass(frozen=True)
class ScanAnswer:
    """A scan of one address from one vantage: the target, the agent's counts, who listens."""

    lab: str
    vantage: str
    target: ScanTarget
    ports: str  # the port spec as written, or the published ports scanned by default
    timeout_s: float
    inventory: bool  # the target's namespace was read, so `owners` is known
    result: ProbeResult  # the agent's scan payload is in `result.extra`
    owners: list[dict] | None  # per open port, the sockets answering it (None: inventory unknown)
    elapsed_s: float  # the whole command, attach and inventory included

    def count(self, key: str) -> int:
        return int(self.result.extra.get(key) or 0)

    @property
    def open(self) -> list[int]:
        return list(self.result.extra.get("open") or [])

    @property
    def filtered(self) -> list[int]:
        """The filtered ports, up to the agent's list limit (`count("filtered_count")` is all of them)."""
        return list(self.result.extra.get("filtered") or [])

    @property
    def filtered_reasons(self) -> Mapping[str, int]:
        return self.result.extra.get("filtered_reasons") or {}

    @property
    def errors(self) -> Mapping[str, int]:
        return self.result.extra.get("errors") or {}

    @property
    def unreachable(self) -> str | bool:
        """False, or why the address as a whole could not be reached (the scan then stopped)."""
        return self.result.extra.get("unreachable") or False

    @property
    def seconds(self) -> float:
        return float(self.result.extra.get("seconds") or 0.0)

    def to_json(self) -> dict[str, Any]:
        """The `--format json` document (schema looplab/scan@1)."""
        answer: dict[str, Any] = {
            "schema": "looplab/scan@1",
            "lab": self.lab,
            "from": self.vantage,
            "target": self.target.text,
            "address": self.target.address,
            "allowed_as": self.target.why,
            "namespace": self.target.namespace,
            "inventory": self.inventory,
            "ports": self.ports,
            "timeout_s": self.timeout_s,
        }
        answer.update({k: v for k, v in self.result.extra.items() if k != "address"})
        answer["owners"] = self.owners
        answer["elapsed_s"] = self.elapsed_s
        return answer


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


def default_ports(state: LabState, target: ScanTarget) -> str:
    """What a scan covers when no ports are given: every port of a lab member; on the host only
    the ports the lab publishes there (the host's own services are not the lab's to scan)."""
    if target.namespace != HOST:
        return DEFAULT_SCAN_PORTS
    published = sorted({p.host_port for p in state.published if p.proto == "tcp"})
    if not published:
        raise LooplabError(
            f"scan of {target.text}: it is the host ({target.why}), and lab {state.lab} publishes no TCP "
            "port there; give --ports to scan the host's own ports"
        )
    return ",".join(map(str, published))


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
    ports_spec: str | None = None,
    launcher: str = "auto",
) -> ScanAnswer:
    """TCP connect scan of one address from one vantage of a running lab (like `nmap -sT`).

    The answer: the agent's counts (open, closed_count, filtered, ...), the address and
    the namespace it belongs to, and `owners`: for each open port, the listening sockets
    (with pid and command) from that namespace's inventory when it could be read.
    Nothing is dialled before the target has passed the safety check. `ports_spec` None: every
    port, except where the target ends on the host (a gateway, the host's loopback): there only
    the lab's own published ports, unless ports are asked for.
    """
    t0 = time.perf_counter()
    if ports_spec is not None:
        parse_ports(ports_spec)  # bad input is refused before the lab is looked at
    with open_lab(lab_name, launcher, (vantage, address_or_name.strip()), inventory=False) as (live, launch):
        target = resolve_scan_target(live, vantage, address_or_name)
        state = live.state
        ports_spec = ports_spec or default_ports(state, target)
        ranges = parse_ports(ports_spec)
        known = bool(target.namespace) and target.namespace in take_inventory(state, launch, [target.namespace])
        timeout = live.lab.probe.timeout_s
        spec = ProbeSpec(
            id="scan",
            kind="scan",
            address=target.address,
            ports=tuple((lo, hi) for lo, hi in ranges),
            timeout=timeout,
        )
        total = sum(hi - lo + 1 for lo, hi in ranges)
        deadline = 60.0 + timeout * math.ceil(total / _SCAN_ROUNDS_ALLOWANCE)
        refuse_host_dial(state, vantage, target.address)
        result = run_one(state, launch, vantage, spec, deadline)
        if not result.ok:
            raise LooplabError(f"scan from {vantage} of {target.address} failed: {result.detail}")
        sockets = state.sockets.get(target.namespace, []) if known else []
        opened = result.extra.get("open") or []
        owners = [o for port in opened for o in _owners(sockets, target.address, port)] if known else None
        return ScanAnswer(
            lab=live.lab.name,
            vantage=vantage,
            target=target,
            ports=ports_spec,
            timeout_s=timeout,
            inventory=known,
            result=result,
            owners=owners,
            elapsed_s=round(time.perf_counter() - t0, 3),
        )
