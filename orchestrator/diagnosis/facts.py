"""What the rules know about one probe: the cell and the namespaces on both of its ends."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.state import NetworkEvent
from .firewall_rules import FirewallEntry


@dataclass(frozen=True)
class Facts:
    """What is known about one probe: the cell and the namespaces on both ends."""

    vantage: str
    target: str
    proto: str
    target_kind: str
    address: str
    port: int
    state: str
    expected: str
    verdict: str
    vantage_ns: str
    target_ns: str | None  # None: a port published on the host
    target_sockets: tuple[dict, ...] = ()  # listening sockets in target_ns
    firewall: tuple[FirewallEntry, ...] = ()  # rules in target_ns (INPUT) and vantage_ns (OUTPUT)
    bind_errors: tuple[str, ...] = ()  # log lines of target_ns's processes that failed to bind
    shared_networks: tuple[str, ...] = ()
    vantage_networks: tuple[str, ...] = ()
    target_networks: tuple[str, ...] = ()
    ipv6_loopback: bool = False  # does the vantage's namespace have ::1
    published_to: int | None = None  # container port behind a published host port
    localhost_order: tuple[str, ...] = ()  # addresses `localhost` resolves to in the vantage, in order
    discovered: bool = False  # the answering listener was not declared by the lab
    detail: str | None = None
    observations: tuple[str, ...] = ()  # each probe of the cell, when it was probed more than once
    suspect: str | None = None  # "CAUSE: why" a kernel limit may have forged the state (probes/agent/kernel.py)
    engine_events: tuple[NetworkEvent, ...] = ()  # other labs' network events while the matrix was probed
    forwarders: tuple[tuple[str, str, str], ...] = ()  # (member, its network shared with the vantage, with the target)
    engine_version: str = ""  # the engine's version ("20.10.24+dfsg1"); "" unknown
    engine_major: int = 0  # its major version; 0 unknown
    published_on: tuple[str, ...] = ()  # host addresses the target's container port is published on
