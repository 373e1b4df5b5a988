"""The frozen lab model: what a Compose file plus `x-looplab` says, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Proto = Literal["tcp", "udp"]
ListenerKind = Literal["tcp", "udp", "http"]  # the agent's listener schemes (a unit test keeps them equal)
State = Literal["open", "closed", "reset", "filtered", "open|filtered", "unreachable", "error"]
STATES: tuple[str, ...] = ("open", "closed", "reset", "filtered", "open|filtered", "unreachable", "error")

LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"
ANY_V4 = "0.0.0.0"
ANY_V6 = "::"


def is_loopback(address: str) -> bool:
    """True for an address in 127.0.0.0/8 or ::1."""
    return address == LOOPBACK_V6 or address.startswith("127.")


@dataclass(frozen=True)
class Location:
    """Where in the lab file something was written (1-based line)."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass(frozen=True)
class Listener:
    """A socket a service listens on: declared in the lab, or discovered in its namespace."""

    service: str
    scheme: ListenerKind  # tcp, udp, http: how it listens (and how it is probed)
    address: str
    port: int
    discovered: bool = False  # found in the socket inventory, not declared by the lab
    process: str | None = None  # "pid 17 python3 ..." for discovered listeners

    @property
    def proto(self) -> Proto:
        return "udp" if self.scheme == "udp" else "tcp"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.address)


@dataclass(frozen=True)
class PortPublish:
    """`ports:` entry: host_ip:host_port -> container_port/proto. host_port None = engine picks."""

    host_ip: str
    host_port: int | None
    container_port: int
    proto: Proto = "tcp"


@dataclass(frozen=True)
class NetworkAttachment:
    network: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval_s: float | None = None
    timeout_s: float | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    networks: tuple[NetworkAttachment, ...] = ()
    network_mode: str | None = None  # None (bridged on `networks`), "host", "none", "service:X"
    ports: tuple[PortPublish, ...] = ()
    expose: tuple[int, ...] = ()
    cap_add: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    depends_on: tuple[str, ...] = ()
    # (dependency, condition) for the Compose conditions that wait for more than a start:
    # service_healthy, service_completed_successfully
    waits_for: tuple[tuple[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    listeners: tuple[Listener, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    location: Location | None = None

    @property
    def shares_namespace_with(self) -> str | None:
        """The service whose network namespace this one joins (`network_mode: service:X`)."""
        if self.network_mode and self.network_mode.startswith("service:"):
            return self.network_mode.split(":", 1)[1]
        return None

    @property
    def is_host_mode(self) -> bool:
        return self.network_mode == "host"


@dataclass(frozen=True)
class Network:
    name: str
    internal: bool = False
    location: Location | None = None


@dataclass(frozen=True)
class Expectation:
    """An explicit `x-looplab.expect` entry: from a vantage, to a target, the state it must be
    (`state`), or only whether it must be reachable (`reachable`: true = open, false = not open)."""

    vantage: str
    target: str
    state: State | None
    proto: Proto = "tcp"
    location: Location | None = None
    reachable: bool | None = None  # set when the entry gives `reachable` (state None unless both agree)


FirewallAction = Literal["drop", "reject"]


@dataclass(frozen=True)
class FirewallRule:
    """`x-looplab.firewall`: an iptables rule looplab adds to a service's namespace.

    drop -> probes time out (filtered); reject -> TCP reset / ICMP port unreachable (closed).
    `interface: lo` matches only traffic inside the namespace (its loopback and its own address).
    """

    service: str
    action: FirewallAction
    proto: Proto
    port: int
    chain: Literal["INPUT", "OUTPUT"] = "INPUT"
    interface: str | None = None
    location: Location | None = None

    @property
    def comment(self) -> str:
        return f"looplab {self.location}" if self.location else "looplab"

    def iptables_args(self) -> list[str]:
        """Arguments after `iptables -w -A`."""
        args = [self.chain]
        if self.interface:
            args += ["-i" if self.chain == "INPUT" else "-o", self.interface]
        args += ["-p", self.proto, "--dport", str(self.port), "-m", "comment", "--comment", self.comment]
        if self.action == "drop":
            return [*args, "-j", "DROP"]
        reject = "tcp-reset" if self.proto == "tcp" else "icmp-port-unreachable"
        return [*args, "-j", "REJECT", "--reject-with", reject]


@dataclass(frozen=True)
class ProbeSettings:
    timeout_s: float = 1.0
    grace_s: float = 0.1
    ready_timeout_s: float = 30.0
    icmp: bool = False  # add a ping cell from every vantage to every service
    lan: bool = False  # add the LAN neighbour `@neighbour` (root and the setns launcher only)
    lan_location: str = ""  # file:line of `lan:` when the lab file sets it


@dataclass(frozen=True)
class Lab:
    name: str
    path: str
    services: tuple[Service, ...]
    networks: tuple[Network, ...]
    expectations: tuple[Expectation, ...] = ()
    probe: ProbeSettings = ProbeSettings()
    firewall: tuple[FirewallRule, ...] = ()

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def network(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(name)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(lst for svc in self.services for lst in svc.listeners)
