"""Gather what the rules need about a cell from a running lab (each namespace read once).

The finder reads the engine's state (runtime/state.py) and asks for anything else (logs,
firewall rules) through an injected RawReads, so it needs neither docker nor nsenter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from ..domain import Cell, PlannedCell
from ..labfile.model import Lab
from ..runtime.state import HOST, NEIGHBOUR, LabState, NetworkEvent
from .bind_failures import bind_failures
from .facts import Facts
from .firewall_rules import FirewallEntry, firewall_entries

LOG_TAIL = 50  # log lines read per container when looking for bind failures


class RawReads(Protocol):
    """The raw reads of a running lab the finder needs; "" when a source cannot be read."""

    def logs(self, member: str, tail: int) -> str:
        """The last `tail` lines a member's process logged."""
        ...

    def firewall_text(self, namespace: str) -> tuple[str, str]:
        """`iptables-save -c` and `nft list ruleset` output inside a member's namespace."""
        ...

    def network_events(self, since: float, until: float) -> list[NetworkEvent]:
        """The engine's bridge-network events between two unix times."""
        ...


class FactFinder:
    """Reads firewall rules, logs and inventories of a running lab once per namespace."""

    def __init__(self, reads: RawReads, lab: Lab, state: LabState, window: tuple[float, float] | None = None) -> None:
        """`window`: when the matrix was probed (unix times), to read the engine's events in it."""
        self.reads = reads
        self.lab = lab
        self.state = state
        self.window = window
        self._events: tuple[NetworkEvent, ...] | None = None
        self._rules = lru_cache(maxsize=None)(self._read_rules)
        self._logs = lru_cache(maxsize=None)(self._read_bind_errors)

    def facts_for(self, planned: PlannedCell, cell: Cell) -> Facts:
        """The facts about `cell`, probed as `planned` says (whose target namespace the plan knows)."""
        state = self.state
        vantage_ns = state.namespace_of(cell.vantage)
        published_to = None
        answering_ns = planned.target_ns
        if cell.target_kind == "published":
            pub = next((p for p in state.published if p.host_port == cell.port and p.proto == cell.proto), None)
            if pub is not None:
                published_to = pub.container_port
                answering_ns = state.namespace_of(pub.service)
        rules: list[FirewallEntry] = []
        if answering_ns is not None:
            rules += [e for e in self._rules(answering_ns) if e.chain.upper() == "INPUT"]
        rules += [e for e in self._rules(vantage_ns) if e.chain.upper() == "OUTPUT"]
        mine = self._networks(vantage_ns)
        theirs = self._networks(answering_ns) if answering_ns else ()
        discovered = any(
            lst.discovered and lst.port == cell.port and lst.proto == cell.proto
            for lst in self.lab.listeners
            if state.namespace_of(lst.service) == answering_ns
        )
        return Facts(
            vantage=cell.vantage,
            target=cell.target,
            proto=cell.proto,
            target_kind=cell.target_kind,
            address=cell.address,
            port=cell.port,
            state=cell.state,
            expected=cell.expected,
            verdict=cell.verdict,
            vantage_ns=vantage_ns,
            target_ns=answering_ns,
            target_sockets=tuple(state.sockets.get(answering_ns, [])) if answering_ns else (),
            firewall=tuple(rules),
            bind_errors=self._logs(answering_ns) if answering_ns else (),
            shared_networks=tuple(n for n in mine if n in theirs) if vantage_ns != HOST else theirs,
            vantage_networks=mine,
            target_networks=theirs,
            ipv6_loopback=state.ipv6_loopback.get(vantage_ns, False),
            published_to=published_to,
            localhost_order=tuple(state.localhost.get(vantage_ns, [])),
            discovered=discovered,
            detail=cell.detail,
            observations=cell.observations,
            suspect=cell.suspect,
            engine_events=self._foreign_events() if cell.verdict == "exposed" else (),
            forwarders=self._forwarders(vantage_ns, answering_ns, mine, theirs),
            engine_version=state.engine.version if state.engine else "",
            engine_major=state.engine.major if state.engine else 0,
            published_on=tuple(
                p.host_ip or "0.0.0.0"
                for p in state.published
                if answering_ns is not None
                and state.namespace_of(p.service) == answering_ns
                and (p.container_port, p.proto) == (published_to or cell.port, cell.proto)
            ),
        )

    def _foreign_events(self) -> tuple[NetworkEvent, ...]:
        """Network events of networks that are not this lab's, during the probe window (read once)."""
        if self.window is None:
            return ()
        if self._events is None:
            self._events = tuple(e for e in self.reads.network_events(*self.window) if not e.ours)
        return self._events

    def _forwarders(
        self, vantage_ns: str, target_ns: str | None, mine: tuple[str, ...], theirs: tuple[str, ...]
    ) -> tuple[tuple[str, str, str], ...]:
        """Members on a network of the vantage and on one of the target (a path when they share none)."""
        if target_ns is None or vantage_ns == HOST or set(mine) & set(theirs):
            return ()
        out = []
        for member in self.state.members.values():
            if member.namespace in (vantage_ns, target_ns) or member.role != "service":
                continue
            near = next((n for n in member.addresses if n in mine), None)
            far = next((n for n in member.addresses if n in theirs), None)
            if near and far:
                out.append((member.name, near, far))
        return tuple(out)

    def _networks(self, namespace: str) -> tuple[str, ...]:
        if namespace == HOST:
            return tuple(self.state.networks)
        if namespace == NEIGHBOUR:  # on no Docker network: it routes via the host
            return ()
        return tuple(self.state.members[namespace].addresses)

    def _read_rules(self, namespace: str) -> tuple[FirewallEntry, ...]:
        if namespace in (HOST, NEIGHBOUR):  # the host's rules are Docker's; the neighbour has none
            return ()
        return tuple(firewall_entries(*self.reads.firewall_text(namespace)))

    def _read_bind_errors(self, namespace: str) -> tuple[str, ...]:
        lines: list[str] = []
        for member in self.state.members.values():
            if member.namespace == namespace and member.role == "service":
                log = self.reads.logs(member.name, LOG_TAIL)
                lines += [f"{member.name}: {line}" for line in bind_failures(log)]
        return tuple(lines)
