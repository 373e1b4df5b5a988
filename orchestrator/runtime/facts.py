"""Gather what diagnose.py needs about a cell, from the engine and the namespaces (cached)."""

from __future__ import annotations

from functools import lru_cache

import docker

from ..diagnose import Facts
from ..domain import Cell
from ..labfile.model import Lab
from ..plan import target_namespace
from .firewall import FirewallEntry, read_namespace_firewall
from .state import HOST, LabState

_BIND_FAILURES = ("Address already in use", "EADDRINUSE", "address already in use")


class FactFinder:
    """Reads firewall rules, logs and inventories of a running lab once per namespace."""

    def __init__(self, client: docker.DockerClient, lab: Lab, state: LabState) -> None:
        self.client = client
        self.lab = lab
        self.state = state
        self._rules = lru_cache(maxsize=None)(self._read_rules)
        self._logs = lru_cache(maxsize=None)(self._read_bind_errors)

    def facts_for(self, cell: Cell) -> Facts:
        state = self.state
        vantage_ns = state.namespace_of(cell.vantage)
        target_ns = target_namespace(cell.vantage, cell.target, cell.kind, state)
        published_to = None
        answering_ns = target_ns
        if cell.kind == "published":
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
            kind=cell.kind,
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
        )

    def _networks(self, namespace: str) -> tuple[str, ...]:
        if namespace == HOST:
            return tuple(self.state.networks)
        return tuple(self.state.members[namespace].addresses)

    def _read_rules(self, namespace: str) -> tuple[FirewallEntry, ...]:
        pid = self.state.netns_pid(namespace)
        return tuple(read_namespace_firewall(pid)) if pid else ()

    def _read_bind_errors(self, namespace: str) -> tuple[str, ...]:
        lines: list[str] = []
        for member in self.state.members.values():
            if member.namespace != namespace or member.role != "service":
                continue
            try:
                logs = self.client.api.logs(member.container_id, tail=50).decode(errors="replace")
            except docker.errors.APIError:
                continue
            lines += [f"{member.name}: {ln}" for ln in logs.splitlines() if any(m in ln for m in _BIND_FAILURES)]
        return tuple(lines)
