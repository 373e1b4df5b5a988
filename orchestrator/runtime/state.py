"""What the engine made of a lab: containers, namespaces, addresses, published ports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain import Engine
from ..errors import LooplabError
from ..labfile.model import Lab

HOST = "host"
OUTSIDE = "@outside"
NEIGHBOUR = "@neighbour"  # the opt-in LAN neighbour (`--lan`); `@lan` would clash with a network named lan


class MemberNotRunning(LooplabError):
    """A member's container is not running: it has no namespace to probe from."""


@dataclass(frozen=True)
class NetworkState:
    name: str  # the lab's name for it ("lan"); "@outside" for the outside observer's network
    gateway: str
    internal: bool
    subnet: str = ""  # its IPv4 subnet ("172.25.0.0/16"); "" when the engine did not say


@dataclass(frozen=True)
class MemberState:
    """A container of the lab: a service or an observer (`@NET`, `@outside`)."""

    name: str
    role: str  # "service" | "observer"
    container_id: str
    container_name: str
    pid: int
    namespace: str  # the member owning the network namespace; "host" for host mode
    addresses: dict[str, str] = field(default_factory=dict)  # lab network -> IPv4 address


@dataclass(frozen=True)
class Netns:
    """One network namespace, as every launcher can find it: by pid here, or by container."""

    owner: str  # "host", or the member that owns the namespace
    pid: int | None  # /proc/PID/ns/net; None is the orchestrator's own (the host), unless `path` is set
    container_id: str | None  # the owner's container, for launchers that join rather than setns
    path: str | None = None  # a named namespace no process owns (the LAN neighbour's /run/netns/NAME)


@dataclass(frozen=True)
class Neighbour:
    """The LAN neighbour of one run: a named network namespace joined to the host by a veth pair
    on a link-local /30, routing the lab's subnets (and the host's 127.0.0.1) via the host's end."""

    name: str  # the namespace's name (runtime/neighbour.py: it carries the run id, owner pid and host)
    path: str  # /run/netns/NAME
    address: str  # its end of the /30 (169.254.x.2)
    host_address: str  # the host's end (169.254.x.1): how it dials ports published on the host
    host_link: str  # the host's end of the veth pair
    routes: tuple[str, ...]  # every route it has besides the /30, all via host_address


@dataclass(frozen=True)
class Published:
    service: str
    container_port: int
    proto: str
    host_ip: str
    host_port: int


@dataclass
class LabState:
    lab: str
    run_id: str
    members: dict[str, MemberState]
    networks: dict[str, NetworkState]
    published: tuple[Published, ...] = ()
    ipv6_loopback: dict[str, bool] = field(default_factory=dict)  # namespace -> has ::1
    sockets: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> inventory
    localhost: dict[str, list[str]] = field(default_factory=dict)  # namespace -> `localhost` in dial order
    warnings: list[str] = field(default_factory=list)  # what starting the lab noticed
    engine: Engine | None = None  # the engine it runs on (some isolation rules depend on it)
    neighbour: Neighbour | None = None  # the LAN neighbour, when this command asked for one (`--lan`)

    def namespace_of(self, vantage: str) -> str:
        """The namespace a vantage probes from: "host", or the member that owns it. A member the
        engine no longer has (it vanished, or never started) is refused in one line."""
        if vantage == HOST:
            return HOST
        if vantage == NEIGHBOUR:
            if self.neighbour is None:
                raise MemberNotRunning(f"{NEIGHBOUR} is made only when asked for (--lan, or x-looplab.probe.lan)")
            return NEIGHBOUR
        member = self.members.get(vantage)
        if member is None:
            raise MemberNotRunning(f"{vantage} is not running (the engine has no container for it)")
        return member.namespace

    def netns(self, vantage: str) -> Netns:
        """The namespace a vantage probes from, as a launcher needs it. A member that is not running
        has no namespace: it is refused (`MemberNotRunning`), never taken for the host's."""
        owner = self.namespace_of(vantage)
        if owner == HOST:
            return Netns(HOST, None, None)
        if owner == NEIGHBOUR and self.neighbour is not None:
            return Netns(NEIGHBOUR, None, None, path=self.neighbour.path)
        member = self.members[owner]
        if member.pid <= 0:
            raise MemberNotRunning(f"{owner} is not running (no process, so no namespace to probe from or in)")
        return Netns(owner, member.pid, member.container_id)

    def all_namespaces(self) -> list[str]:
        """Every namespace of the run: the host's and each member that owns one."""
        return sorted({HOST, *(m.namespace for m in self.members.values())})


def observer_names(lab: Lab) -> list[str]:
    """`@NET` for every lab network, then `@outside`."""
    return [f"@{n.name}" for n in lab.networks] + [OUTSIDE]


@dataclass(frozen=True)
class NetworkEvent:
    """One network event from the engine's event stream (create, connect, disconnect, destroy)."""

    action: str
    network: str  # the engine's name for the network
    at: float  # unix time, seconds
    ours: bool  # the network belongs to this run of the lab
    type: str = "network"
