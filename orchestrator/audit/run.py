"""The audit job: read the selected containers, adopt them as a lab, probe, find; nothing of the
user's is changed and everything looplab added is removed, on every way out."""

from __future__ import annotations

from dataclasses import replace

from .. import lan_vantage
from ..addresses import owner_text
from ..inprocess import OpenLab
from ..probes.agent.resolve import DOCKER_DNS
from ..runtime.foreign import Selection
from ..runtime.interrupts import signals_raise
from ..runtime.state import LabState
from ..session import RunOptions
from .findings import find
from .model import Audit, Socket

READY_WAIT_S = 5.0  # a running stack listens already; a port still silent then is a warning, not an error


def audit(selection: Selection, opts: RunOptions, *, observers: bool = True) -> Audit:
    """Probe the selected running containers from every vantage and report what they expose."""
    opts = replace(opts, read_firewalls=True)
    runtime = opts.make_runtime()
    opts.progress(f"reading {selection.describe()}")
    containers = runtime.foreign(selection, opts.warn)
    lan = "--lan" if opts.lan else None
    lan_vantage.refuse_early(lan, runtime.info(), opts.launcher)
    name = selection.project or "audit"
    with signals_raise():
        opts.progress(f"adopting {len(containers)} containers")
        lab = OpenLab.adopt(
            name,
            {c.member: c.id for c in containers},
            opts=opts,
            observers=observers,
            ready_timeout_s=READY_WAIT_S,
            require_listening=False,
        )
        with lab:
            for message in lab.live.warnings:
                opts.warn(message)
            if lan:
                opts.progress("making the LAN neighbour")
                lan_vantage.make(lab.live, lab.launcher, lan)
            report = lab.matrix()
            sockets = listening_sockets(lab.live.state, [c.member for c in containers])
            findings = find(containers, lab.live.lab, report.cells, observers=observers, engine=report.engine)
    return Audit(
        subject=selection.describe(),
        containers=tuple(containers),
        findings=tuple(findings),
        report=report,
        observers=observers,
        sockets=sockets,
    )


def listening_sockets(state: LabState, members: list[str]) -> tuple[Socket, ...]:
    """The inventory of each audited member's namespace (a shared namespace is listed once)."""
    out = []
    for member in members:
        if state.namespace_of(member) != member:
            continue  # it shares another member's namespace: listed under that member
        for sock in state.sockets.get(member, []):
            if sock["address"] == DOCKER_DNS:
                continue  # Docker's embedded resolver, in every container on a user network
            out.append(Socket(member, sock["proto"], sock["address"], sock["port"], owner_text(sock)))
    return tuple(sorted(out, key=lambda s: (s.member, s.proto, s.port, s.address)))
