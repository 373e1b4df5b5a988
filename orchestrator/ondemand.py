"""Commands on a lab left running by `looplab up`: one probe, socket inventories, a port scan."""

from __future__ import annotations

import ipaddress
import math
import re
import time
from dataclasses import dataclass

import docker

from .addresses import answers
from .diagnosis.finder import FactFinder
from .diagnosis.rules import diagnose as explain_cell
from .discovery import with_discovered
from .domain import Diagnosis, verdict_for
from .errors import LooplabError
from .labfile.model import Lab
from .plan import PlannedCell, cell_for_target, lookup, plan, vantages
from .probes.launchers import Batch, Launcher, make_launcher
from .resolution import dial_order
from .runtime.attach import AttachedLab, attach, with_observers
from .runtime.engine import connect
from .runtime.readiness import all_namespaces, take_inventory
from .runtime.reads import EngineReads
from .runtime.state import HOST, LabState

PROBE_KINDS = ("tcp", "udp", "http", "icmp")
_TARGET = re.compile(r"^(?P<name>\[::1\]|127\.0\.0\.1|[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class ProbeAnswer:
    cell: PlannedCell
    result: dict
    verdict: str | None  # None when the model has no expectation for this cell


@dataclass(frozen=True)
class Running:
    """A running lab with fresh socket inventories (and its discovered listeners)."""

    lab: Lab
    state: LabState
    client: docker.DockerClient
    launcher: Launcher


def _running(lab_name: str | None, need: tuple[str, ...] = ()) -> Running:
    """The running lab, with the observers among `need` started (`up` leaves them for first use)."""
    client = connect()
    attached = with_observers(client, attach(client, lab_name), list(need))
    launcher = make_launcher("setns")
    take_inventory(attached.state, launcher, all_namespaces(attached.state))
    return Running(with_discovered(attached.lab, attached.state), attached.state, client, launcher)


def _check_vantage(attached: Running | AttachedLab, vantage: str) -> None:
    known = vantages(attached.lab)
    if vantage not in known:
        raise LooplabError(f"unknown vantage {vantage!r}; this lab has: {', '.join(known)}")


def parse_target(text: str, kind: str, attached: Running) -> str:
    """Normalise TARGET (NAME[:PORT]); the port may be left out only for icmp."""
    m = _TARGET.match(text)
    if not m:
        raise LooplabError(f"target {text!r}: write 127.0.0.1:P, [::1]:P, localhost:P, SERVICE:P or host:P")
    name, port = m.group("name"), m.group("port")
    if name not in ("127.0.0.1", "[::1]", "host", "localhost") and name not in {s.name for s in attached.lab.services}:
        raise LooplabError(f"target {text!r}: no service {name!r} in lab {attached.lab.name}")
    if port is None:
        if kind != "icmp":
            raise LooplabError(f"target {text!r}: a port is needed for --proto {kind}")
        port = "0"
    if not 0 <= int(port) <= 65535 or (kind != "icmp" and int(port) == 0):
        raise LooplabError(f"target {text!r}: port {port} is out of range (1-65535)")
    return f"{name}:{int(port)}"


def probe(lab_name: str | None, vantage: str, target: str, kind: str) -> ProbeAnswer:
    """Dial one target from one vantage, the way the matrix would, and judge it against the model."""
    return _probe(_running(lab_name, (vantage,)), vantage, target, kind)


def _probe(run: Running, vantage: str, target: str, kind: str) -> ProbeAnswer:
    _check_vantage(run, vantage)
    target = parse_target(target, kind, run)
    proto = "udp" if kind == "udp" else "tcp"
    cell = lookup(plan(run.lab, run.state), vantage, target, proto) or cell_for_target(
        vantage, target, proto, run.lab, run.state
    )
    settings = run.lab.probe
    spec = {"id": "0", "kind": kind, "address": cell.address, "timeout": settings.timeout_s, "grace": settings.grace_s}
    if kind != "icmp":
        spec["port"] = cell.port
    result = _run_one(run.state, run.launcher, vantage, spec, settings.timeout_s + 30)
    judged = kind in ("tcp", "udp") and bool(cell.accepted)
    return ProbeAnswer(cell, result, verdict_for(result.get("state", "error"), cell.accepted) if judged else None)


def _run_one(state: LabState, launcher: Launcher, vantage: str, spec: dict, deadline_s: float) -> dict:
    """Run one agent probe from one vantage; its result, or a LooplabError if it could not run."""
    namespace = state.namespace_of(vantage)
    container = None if vantage == HOST else state.members[vantage].container_id
    outcome = launcher.run([Batch(vantage, state.netns_pid(namespace), container, [spec])], deadline_s=deadline_s)[
        vantage
    ]
    if outcome.error:
        raise LooplabError(f"cannot probe from {vantage}: {outcome.error}")
    return outcome.results[0]


def diagnose(lab_name: str | None, vantage: str, target: str, kind: str) -> tuple[ProbeAnswer, Diagnosis | None]:
    """Probe one cell and explain why it is what it is (even when it passes)."""
    run = _running(lab_name, (vantage,))
    answer = _probe(run, vantage, target, kind)
    p, r = answer.cell, answer.result
    state, latency = r.get("state", "error"), r.get("latency_ms")
    cell = p.observed(state, verdict=answer.verdict or "pass", latency_ms=latency, detail=r.get("detail"))
    return answer, explain_cell(FactFinder(EngineReads(run.client), run.lab, run.state).facts_for(p, cell))


def resolve(lab_name: str | None, vantage: str, name: str) -> dict:
    """What NAME resolves to inside a vantage's namespace: its /etc/hosts, then Docker's DNS.

    Only `localhost` and the lab's own service names and aliases may be asked: Docker's DNS
    forwards names it does not know to the host's resolver, outside the lab (safety).
    """
    run = _running(lab_name, (vantage,))
    _check_vantage(run, vantage)
    allowed = (
        {"localhost"}
        | {s.name for s in run.lab.services}
        | {alias for s in run.lab.services for att in s.networks for alias in att.aliases}
    )
    if name not in allowed:
        raise LooplabError(
            f"resolve {name!r}: only localhost and the lab's service names and aliases may be "
            f"asked ({', '.join(sorted(allowed))}); Docker's DNS would forward other names "
            "outside the lab"
        )
    namespace = run.state.namespace_of(vantage)
    pid = run.state.netns_pid(namespace)
    # Docker's DNS answers a name only on the networks where it is registered and forwards
    # every other query to the host's resolver: ask it only for names it will answer itself.
    mine = set(run.state.members[namespace].addresses) if namespace != HOST else set()
    registered = {att.network for s in run.lab.services for att in s.networks if name == s.name or name in att.aliases}
    ask_dns = namespace != HOST and bool(mine & registered)
    spec = {
        "id": "0",
        "kind": "resolve",
        "name": name,
        "root": f"/proc/{pid}/root" if pid else "/",
        "dns": ask_dns,
        "timeout": run.lab.probe.timeout_s,
    }
    result = _run_one(run.state, run.launcher, vantage, spec, run.lab.probe.timeout_s * 2 + 30)
    if result.get("state") != "ok" and name != "localhost" and namespace != HOST and not ask_dns:
        result = {
            **result,
            "detail": f"{name} is registered on {', '.join(sorted(registered)) or 'no network'}, "
            f"none of which {vantage} is on; Docker's DNS would forward the query outside the lab, "
            "so it was not asked",
        }
    order = dial_order(list(result.get("addresses") or []), run.state.ipv6_loopback.get(namespace, False))
    return {
        "vantage": vantage,
        "name": name,
        "state": result.get("state"),
        "source": result.get("source"),
        "addresses": result.get("addresses") or [],
        "dial_order": order,
        "detail": result.get("detail"),
    }


def sockets(lab_name: str | None, member: str | None) -> dict[str, list[dict]]:
    """Listening sockets per namespace (`ss -ltnup` from inside each), keyed by namespace owner."""
    attached = _running(lab_name, (member,) if member else ())
    state = attached.state
    if member is not None:
        _check_vantage(attached, member)
        namespace = state.namespace_of(member)
        return {namespace: state.sockets.get(namespace, [])}
    return {ns: state.sockets.get(ns, []) for ns in all_namespaces(state)}


# -- scan: every port of one address, from one vantage ----------------------------------------

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


def resolve_scan_target(attached: AttachedLab, vantage: str, text: str) -> ScanTarget:
    """The address to scan for ADDRESS|NAME as seen from `vantage`, or a LooplabError.

    Allowed: loopback addresses, the lab's container addresses and the gateways of the
    lab's networks (safety: a scan never leaves the lab). Names: a lab service or
    observer (its address from the vantage, as the matrix dials it), `host` (the
    vantage's gateway, or 127.0.0.1 on the host), `localhost` is not guessed at.
    """
    lab, state = attached.lab, attached.state
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


def scan(lab_name: str | None, vantage: str, address_or_name: str, ports_spec: str = DEFAULT_SCAN_PORTS) -> dict:
    """TCP connect scan of one address from one vantage of a running lab (like `nmap -sT`).

    The answer: the agent's counts (open, closed_count, filtered, ...), the address and
    the namespace it belongs to, and `owners`: for each open port, the listening sockets
    (with pid and command) from that namespace's inventory when it could be read.
    Nothing is dialled before the target has passed the safety check.
    """
    t0 = time.perf_counter()
    ranges = parse_ports(ports_spec)
    client = connect()
    attached = attach(client, lab_name)
    _check_vantage(attached, vantage)
    attached = with_observers(client, attached, [vantage, address_or_name.strip()])
    target = resolve_scan_target(attached, vantage, address_or_name)
    state = attached.state
    launcher = make_launcher("setns")
    known = bool(target.namespace) and target.namespace in take_inventory(state, launcher, [target.namespace])
    timeout = attached.lab.probe.timeout_s
    spec = {"id": "scan", "kind": "scan", "address": target.address, "ports": ranges, "timeout": timeout}
    total = sum(hi - lo + 1 for lo, hi in ranges)
    deadline = 60.0 + timeout * math.ceil(total / _SCAN_ROUNDS_ALLOWANCE)
    result = _run_one(state, launcher, vantage, spec, deadline)
    if result.get("state") != "ok":
        raise LooplabError(f"scan from {vantage} of {target.address} failed: {result.get('detail')}")
    sockets = state.sockets.get(target.namespace, []) if known else []
    owners = [o for port in result["open"] for o in _owners(sockets, target.address, port)] if known else None
    answer = {
        "schema": "looplab/scan@1",
        "lab": attached.lab.name,
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
