"""The frozen lab model: what a Compose file plus `x-looplab` says, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

Proto = Literal["tcp", "udp"]
ListenerKind = Literal["tcp", "udp", "http"]
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
    """A socket a service is meant to listen on: bind address, port, protocol."""

    service: str
    kind: ListenerKind
    address: str
    port: int

    @property
    def proto(self) -> Proto:
        return "udp" if self.kind == "udp" else "tcp"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.address)

    @property
    def is_v6(self) -> bool:
        return ":" in self.address


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
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    listeners: tuple[Listener, ...] = ()
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
    """An explicit `x-looplab.expect` entry: from a vantage, to a target, the state it must be."""

    vantage: str
    target: str
    state: State
    proto: Proto = "tcp"
    location: Location | None = None


@dataclass(frozen=True)
class ProbeSettings:
    timeout_s: float = 1.0
    grace_s: float = 0.1
    ready_timeout_s: float = 30.0


@dataclass(frozen=True)
class Lab:
    name: str
    path: str
    services: tuple[Service, ...]
    networks: tuple[Network, ...]
    expectations: tuple[Expectation, ...] = ()
    probe: ProbeSettings = ProbeSettings()

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
