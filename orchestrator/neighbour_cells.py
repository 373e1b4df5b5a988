"""The LAN neighbour's row of the matrix (`@neighbour`, opt-in: README, "Rules and states").

A machine on the user's LAN that routes the lab's subnets via this host. The model's
expectation is isolation:
- `SERVICE:P` (the service's own address, routed via the host): not open, unless the container
  port is published on every host interface (then the neighbour reaches it at host:P anyway,
  and whether direct routing reaches it too adds nothing);
- `host:P` (the host's end of the neighbour's link): as `@outside` sees it (rules 3 and 4);
- `127.0.0.1:P` for a port published on the host's 127.0.0.1 only: the neighbour sends it to
  this host, as a LAN machine can (moby#45610); it must not be open.
An engine that routes to container addresses from other interfaces (Docker < 28) makes some of
these open: they are `exposed`, and the diagnosis names the cause (diagnosis/rules.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from .addresses import host_port
from .domain import PlannedCell
from .labfile.model import ANY_V4, ANY_V6, LOOPBACK_V4, Lab, Listener
from .runtime.state import NEIGHBOUR, LabState, Published

NOT_OPEN = frozenset({"closed", "filtered", "unreachable"})
EVERY_STATE = frozenset({"open", "reset", "closed", "filtered", "unreachable"})
ALL_INTERFACES = (ANY_V4, ANY_V6, "")


def neighbour_cells(lab: Lab, state: LabState) -> list[PlannedCell]:
    """Every cell of the `@neighbour` row; [] when this run has no neighbour."""
    if state.neighbour is None:
        return []
    return [*_address_cells(lab, state), *_published_cells(lab, state)]


def _published_on_all(state: LabState, service: str, port: int, proto: str) -> Published | None:
    return next(
        (
            p
            for p in state.published
            if state.namespace_of(p.service) == service
            and p.container_port == port
            and p.proto == proto
            and p.host_ip in ALL_INTERFACES
        ),
        None,
    )


def _address_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    owners = [s.name for s in lab.services if state.namespace_of(s.name) == s.name and state.members[s.name].addresses]
    for owner in owners:
        net, address = next(iter(state.members[owner].addresses.items()))
        listeners = [x for x in lab.listeners if state.namespace_of(x.service) == owner]
        for port, proto in dict.fromkeys((x.port, x.proto) for x in listeners):
            yield _address_cell(
                owner, net, address, [x for x in listeners if (x.port, x.proto) == (port, proto)], state
            )


def _address_cell(owner: str, net: str, address: str, listeners: list[Listener], state: LabState) -> PlannedCell:
    port, proto = listeners[0].port, listeners[0].proto
    target = f"{owner}:{port}"
    public = _published_on_all(state, owner, port, proto)
    if public is not None:
        return PlannedCell(
            NEIGHBOUR,
            target,
            proto,
            "network",
            address,
            port,
            "open",
            EVERY_STATE,
            f"neighbour: published on every interface as host:{public.host_port}, so a LAN neighbour reaches it "
            f"there anyway; whether it also reaches {address} on {net} directly adds nothing",
        )
    where = "published on the host's loopback only" if _published(state, owner, port, proto) else "not published"
    bound = ", ".join(host_port(x.address, port) for x in listeners)
    return PlannedCell(
        NEIGHBOUR,
        target,
        proto,
        "network",
        address,
        port,
        "filtered",
        NOT_OPEN,
        f"neighbour: a LAN neighbour must not reach a container's own address ({address} on {net}); "
        f"{owner} listens on {bound}, {where}",
    )


def _published(state: LabState, service: str, port: int, proto: str) -> bool:
    return any(
        state.namespace_of(p.service) == service and p.container_port == port and p.proto == proto
        for p in state.published
    )


def _published_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    neighbour = state.neighbour
    assert neighbour is not None
    seen: set[tuple[int, str]] = set()
    for pub in state.published:
        if (pub.host_port, pub.proto) in seen:
            continue
        seen.add((pub.host_port, pub.proto))
        target = f"host:{pub.host_port}"
        if pub.host_ip in ALL_INTERFACES:
            behind = _behind(lab, state, pub)
            accepted = frozenset({behind}) if behind == "open" else frozenset({behind, "closed"})
            yield PlannedCell(
                NEIGHBOUR,
                target,
                pub.proto,
                "published",
                neighbour.host_address,
                pub.host_port,
                behind,
                accepted,
                "rule 4: published on all interfaces, and the neighbour dials the host's address on its link",
            )
            continue
        yield PlannedCell(
            NEIGHBOUR,
            target,
            pub.proto,
            "published",
            neighbour.host_address,
            pub.host_port,
            "closed",
            NOT_OPEN,
            f"rule 3: published on {pub.host_ip} only; never open from the LAN",
        )
        if pub.host_ip == LOOPBACK_V4 and pub.proto == "tcp":
            yield PlannedCell(
                NEIGHBOUR,
                f"127.0.0.1:{pub.host_port}",
                pub.proto,
                "published",
                LOOPBACK_V4,
                pub.host_port,
                "filtered",
                NOT_OPEN,
                "rule 3: published on 127.0.0.1 only; a LAN neighbour that sends 127.0.0.1 to this host "
                "(moby#45610) must not reach it",
            )


def _behind(lab: Lab, state: LabState, pub: Published) -> str:
    """What a connection forwarded to the container side meets: open, or the proxy's reset."""
    here = state.namespace_of(pub.service)
    listening = [
        x
        for x in lab.listeners
        if state.namespace_of(x.service) == here
        and x.port == pub.container_port
        and x.proto == pub.proto
        and not x.is_loopback
    ]
    if listening:
        return "open"
    return "open|filtered" if pub.proto == "udp" else "reset"


def neighbour_cell_for(target: str, proto: str, lab: Lab, state: LabState) -> PlannedCell:
    """`target` as dialled from `@neighbour` (`probe --from @neighbour`, an `expect` entry); an
    empty `accepted` where the model says nothing about it."""
    neighbour = state.neighbour
    assert neighbour is not None
    name, _, port_text = target.rpartition(":")
    port = int(port_text)
    known = next((c for c in neighbour_cells(lab, state) if (c.target, c.proto) == (target, proto)), None)
    if known is not None:
        return known
    if name == "host":
        return PlannedCell(NEIGHBOUR, target, proto, "explicit", neighbour.host_address, port, "", frozenset(), "")
    if name == "127.0.0.1":
        return PlannedCell(NEIGHBOUR, target, proto, "explicit", LOOPBACK_V4, port, "", frozenset(), "")
    if name in ("[::1]", "localhost"):
        return PlannedCell(
            NEIGHBOUR,
            target,
            proto,
            "explicit",
            LOOPBACK_V4 if name == "localhost" else "::1",
            port,
            "unreachable",
            frozenset({"unreachable"}),
            "the neighbour has no loopback of its own (its lo is down; 127.0.0.1 is routed to the host)",
        )
    owner = state.namespace_of(name)
    member = state.members.get(owner)
    if member is None or not member.addresses:
        return PlannedCell(NEIGHBOUR, target, proto, "explicit", LOOPBACK_V4, port, "", frozenset(), "")
    net, address = next(iter(member.addresses.items()))
    return PlannedCell(
        NEIGHBOUR,
        target,
        proto,
        "explicit",
        address,
        port,
        "filtered",
        NOT_OPEN,
        f"neighbour: a LAN neighbour must not reach a container's own address ({address} on {net}); "
        f"nothing declared listens on {port}/{proto} there",
    )
