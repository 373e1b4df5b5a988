"""Commands on a lab left running by `looplab up`: one probe, socket inventories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import LooplabError
from .plan import PlannedCell, cell_for_target, lookup, plan, vantages
from .probes.launchers import Batch, make_launcher
from .report.model import verdict_for
from .runtime.attach import AttachedLab, attach
from .runtime.engine import connect
from .runtime.readiness import all_namespaces, take_inventory
from .runtime.state import HOST

PROBE_KINDS = ("tcp", "udp", "http", "icmp")
_TARGET = re.compile(r"^(?P<name>\[::1\]|127\.0\.0\.1|host|[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class ProbeAnswer:
    cell: PlannedCell
    result: dict
    verdict: str | None          # None when the model has no expectation for this cell


def _running(lab_name: str | None) -> tuple[AttachedLab, object]:
    client = connect()
    attached = attach(client, lab_name)
    launcher = make_launcher("setns")
    take_inventory(attached.state, launcher, all_namespaces(attached.state))
    return attached, launcher


def _check_vantage(attached: AttachedLab, vantage: str) -> None:
    known = vantages(attached.lab)
    if vantage not in known:
        raise LooplabError(f"unknown vantage {vantage!r}; this lab has: {', '.join(known)}")


def parse_target(text: str, kind: str, attached: AttachedLab) -> str:
    """Normalise TARGET (NAME[:PORT]); the port may be left out only for icmp."""
    m = _TARGET.match(text)
    if not m:
        raise LooplabError(f"target {text!r}: write 127.0.0.1:P, [::1]:P, SERVICE:P or host:P")
    name, port = m.group("name"), m.group("port")
    if name not in ("127.0.0.1", "[::1]", "host") and name not in {s.name for s in attached.lab.services}:
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
    attached, launcher = _running(lab_name)
    _check_vantage(attached, vantage)
    target = parse_target(target, kind, attached)
    proto = "udp" if kind == "udp" else "tcp"
    cell = lookup(plan(attached.lab, attached.state), vantage, target, proto) or \
        cell_for_target(vantage, target, proto, attached.lab, attached.state)
    settings = attached.lab.probe
    spec = {"id": "0", "kind": kind, "address": cell.address, "timeout": settings.timeout_s, "grace": settings.grace_s}
    if kind != "icmp":
        spec["port"] = cell.port
    state = attached.state
    namespace = state.namespace_of(vantage)
    container = None if vantage == HOST else state.members[vantage].container_id
    outcome = launcher.run([Batch(vantage, state.netns_pid(namespace), container, [spec])],
                           deadline_s=settings.timeout_s + 30)[vantage]
    if outcome.error:
        raise LooplabError(f"cannot probe from {vantage}: {outcome.error}")
    result = outcome.results[0]
    judged = kind in ("tcp", "udp") and bool(cell.accepted)
    return ProbeAnswer(cell, result, verdict_for(result.get("state", "error"), cell.accepted) if judged else None)


def sockets(lab_name: str | None, member: str | None) -> dict[str, list[dict]]:
    """Listening sockets per namespace (`ss -ltnup` from inside each), keyed by namespace owner."""
    attached, _ = _running(lab_name)
    state = attached.state
    if member is not None:
        _check_vantage(attached, member)
        namespace = state.namespace_of(member)
        return {namespace: state.sockets.get(namespace, [])}
    return {ns: state.sockets.get(ns, []) for ns in all_namespaces(state)}
