"""The placements `looplab compare` runs the same listeners in, the lab files that make them,
which cell answers each (placement, vantage) question, and each placement's lesson.

Two labs, one after the other: a process on the host and `network_mode: host` both bind the
host's own ports, so they cannot run at once. Lab A holds the bridge, published, `none` and
sidecar placements (and the host process runs beside it); lab B the host-mode one. Both have
`peer` (on `lan`, the placements' network) and `stranger` (on `other`) as vantages.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..addresses import host_port
from ..labfile.model import Listener

LAB_A, LAB_B = "a", "b"
HOST_PROCESS = "host"


@dataclass(frozen=True)
class Placement:
    name: str  # the row, and the service name in its lab
    how: str
    lab: str  # LAB_A or LAB_B; the host process runs beside LAB_A
    publish: str | None = None  # host IP every listener is published on (ephemeral host ports)
    owner: str | None = None  # the container whose namespace it shares (a `service:` sidecar)


PLACEMENTS = (
    Placement(HOST_PROCESS, "a process on the host, bound to the host's loopback only", LAB_A),
    Placement("bridge", "a container on a bridge network, nothing published", LAB_A),
    Placement("published-lo", "the same, every port published on 127.0.0.1 (ports: 127.0.0.1::P)", LAB_A, "127.0.0.1"),
    Placement("published-all", "the same, every port published on 0.0.0.0 (ports: 0.0.0.0::P)", LAB_A, "0.0.0.0"),
    Placement("host-mode", "a container with network_mode: host", LAB_B),
    Placement("none", "a container with network_mode: none", LAB_A),
    Placement("sidecar", "a container sharing another's namespace (network_mode: service:owner)", LAB_A, owner="owner"),
)
VANTAGES = {"peer": "lan", "stranger": "other"}  # the column's vantage -> its network


def host_bound(listener: Listener) -> str:
    """The URL the host process serves: the listener moved onto the host's loopback (safety:
    compare never opens a port on the host's other interfaces)."""
    address = "::1" if ":" in listener.address else "127.0.0.1"
    return f"{listener.scheme}://{host_port(address, listener.port)}"


def lab_text(which: str, urls: list[str]) -> str:
    """The Compose file of lab A or B for these listener URLs (toolbox `serve`)."""
    serve = ["serve", "--keep-going", *urls]
    services: dict[str, dict] = {}
    for p in PLACEMENTS:
        if p.lab != which or p.name == HOST_PROCESS:
            continue
        svc: dict = {"image": "looplab/toolbox", "command": serve}
        if p.name == "host-mode":
            svc["network_mode"] = "host"
        elif p.name == "none":
            svc["network_mode"] = "none"
        elif p.owner:
            services[p.owner] = {"image": "looplab/toolbox", "command": ["idle"], "networks": ["lan"]}
            svc["network_mode"] = f"service:{p.owner}"
        else:
            svc["networks"] = ["lan"]
        if p.publish:
            svc["ports"] = [f"{p.publish}::{_port_of(url)}/{'udp' if url.startswith('udp') else 'tcp'}" for url in urls]
        services[p.name] = svc
    for vantage, net in VANTAGES.items():
        services[vantage] = {"image": "looplab/toolbox", "command": ["idle"], "networks": [net]}
    return yaml.safe_dump({"services": services, "networks": {"lan": {}, "other": {}}}, sort_keys=False)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def question(
    placement: Placement, column: str, listener: Listener, host_ports: dict[tuple[int, str], int]
) -> tuple[str, str] | str:
    """(vantage, target) that answers "does `column` reach this listener of `placement`?", or
    why nothing is dialled. `host_ports`: (container port, proto) -> the engine's host port."""
    port, proto = listener.port, listener.proto
    own = "[::1]" if ":" in listener.address and listener.address != "::" else "127.0.0.1"
    at_host = f"{own}:{port}"
    published = host_ports.get((port, proto)) if placement.publish else None
    if placement.name in (HOST_PROCESS, "host-mode"):  # the host's own namespace
        return {
            "itself": (placement.name if placement.name == "host-mode" else "host", at_host),
            "host": ("host", at_host),
            "peer": ("peer", f"host:{port}"),
            "other network": ("stranger", f"host:{port}"),
            "@outside": ("@outside", f"host:{port}"),
        }[column]
    name = placement.owner or placement.name  # the sidecar's address is its owner's
    if column == "itself":
        return placement.name, f"{own}:{port}"
    if placement.name == "none":
        return "no network: nothing outside the container has a way to it"
    if column in ("host", "@outside") and published is not None:
        return column, f"host:{published}"
    vantage = {"host": "host", "peer": "peer", "other network": "stranger", "@outside": "@outside"}[column]
    return vantage, f"{name}:{port}"


def lesson(placement: Placement, listeners: list[Listener], rootless: bool) -> str:
    """The one line a reader takes away from this row."""
    local = [x for x in listeners if x.is_loopback]
    wide = [x for x in listeners if not x.is_loopback]
    parts: list[str] = []
    name = placement.name
    if name == HOST_PROCESS:
        parts.append("on the host's loopback only the host reaches it; a container dialling its gateway is refused")
    elif name == "host-mode":
        parts.append("it binds the host's own interfaces: the host reaches every listener")
        if wide:
            parts.append("one on 0.0.0.0 is open to every machine that reaches the host")
    elif name == "none":
        parts.append("no network: only the container itself reaches it")
    else:
        if local:
            parts.append("bound to the container's 127.0.0.1: nothing outside the container reaches it")
            if placement.publish:
                parts.append("a publish forwards to the container's address, where nothing listens: `reset`")
        if wide:
            parts.append("on 0.0.0.0 the container's networks reach it (peers, the host); other networks do not")
            if placement.publish == "127.0.0.1":
                parts.append("the publish adds the host's loopback, not @outside")
            elif placement.publish == "0.0.0.0":
                parts.append("published on 0.0.0.0: @outside, and anything that reaches the host, reaches it")
        if placement.owner:
            parts.append("a sidecar's listeners are its owner's: same namespace, same answers")
    if rootless and name not in ("none",):
        parts.append("rootless: the host does not route to container addresses")
    return "; ".join(parts)
