"""The agent's wire protocol, typed: what to probe (`ProbeSpec`) and what was seen (`ProbeResult`).

The agent stays dict/JSON-based and stdlib-only (it runs as ``python -I -S`` in a bare
image). Everything on the orchestrator's side of the launcher boundary holds these types;
the launcher contract (``launchers/base.py``) converts with :meth:`ProbeSpec.to_wire` and
:meth:`ProbeResult.from_wire`, and nowhere else builds or reads the agent's dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

PortRange = tuple[int, int]


@dataclass(frozen=True)
class ProbeSpec:
    """One probe for the agent. A field left None is left out of the request (the agent's default)."""

    id: str
    kind: str  # a kind of the agent's registry: tcp, udp, http, icmp, sockets, resolve, scan
    address: str | None = None  # the IP literal dialled (never a name)
    port: int | None = None  # tcp, udp, http
    timeout: float | None = None  # seconds
    grace: float | None = None  # seconds a tcp connection must hold to count as open
    # resolve
    name: str | None = None  # the name looked up
    root: str | None = None  # the vantage's filesystem root: its /etc/hosts and resolv.conf
    dns: bool | None = None  # also ask Docker's DNS (127.0.0.11) when /etc/hosts has no answer
    # scan
    ports: tuple[PortRange, ...] | None = None  # inclusive ranges
    concurrency: int | None = None  # sockets in flight
    # iptables (agent and join launchers): the program and its arguments
    argv: tuple[str, ...] | None = None
    # udp / http
    payload: str | None = None  # the datagram sent
    path: str | None = None  # the GET's path
    host: str | None = None  # the GET's Host header

    def to_wire(self) -> dict[str, Any]:
        """The agent's JSON request shape for this probe (a fresh dict, None fields omitted)."""
        wire: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            wire[f.name] = [list(r) for r in value] if f.name == "ports" else list(value) if f.name == "argv" else value
        return wire

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ProbeSpec:
        """The spec a request dict describes (keys the protocol does not know are refused)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(wire) - known)
        if unknown:
            raise ValueError(f"unknown probe field(s): {', '.join(unknown)}")
        values = dict(wire)
        if values.get("ports") is not None:
            values["ports"] = tuple((int(lo), int(hi)) for lo, hi in values["ports"])
        if values.get("argv") is not None:
            values["argv"] = tuple(values["argv"])
        return cls(**values)


_COMMON = ("id", "kind", "state", "latency_ms", "detail", "status", "status_code", "banner", "suspect")


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw. Kind-specific payloads (scan counts, resolve addresses, socket lists)
    are in `extra`, exactly as the agent named them."""

    id: str
    kind: str
    state: str  # open / closed / reset / filtered / open|filtered / unreachable / error; ok / unresolved
    latency_ms: float | None = None
    detail: str | None = None  # why, in words (errno name, ICMP type, ...)
    status: str | None = None  # http: the status line
    status_code: int | None = None  # http
    banner: str | None = None  # tcp / udp: what the service sent first
    suspect: str | None = None  # "CAUSE: why": a kernel limit may have forged this observation (agent/kernel.py)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ProbeResult:
        """A result dict of the agent's response; a missing state reads as "error"."""
        return cls(
            id=str(wire.get("id", "")),
            kind=str(wire.get("kind", "")),
            state=str(wire.get("state") or "error"),
            latency_ms=wire.get("latency_ms"),
            detail=wire.get("detail"),
            status=wire.get("status"),
            status_code=wire.get("status_code"),
            banner=wire.get("banner"),
            suspect=wire.get("suspect"),
            extra={k: v for k, v in wire.items() if k not in _COMMON},
        )

    @property
    def ok(self) -> bool:
        """The sockets, resolve and scan kinds answered (their state is "ok")."""
        return self.state == "ok"


__all__ = ["PortRange", "ProbeResult", "ProbeSpec"]
