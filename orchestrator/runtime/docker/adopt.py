"""A lab made of containers and networks that something else started (testcontainers, a fixture).

The model is read from the engine: each container is a service with the networks it is on, its
aliases there and the ports it publishes. Listeners are not known here: the job that adopts a lab
reads them from each namespace's sockets. The adopted containers and networks carry none of
looplab's labels, so the run's teardown never touches them; what looplab adds (observers, the
`@outside` network, launcher helpers) carries the run's labels and goes with the teardown, or
with `looplab gc` after a hard kill (docs/ARCHITECTURE.md, "testcontainers").
"""

from __future__ import annotations

import docker
import docker.errors

from ...errors import LooplabError
from ...labfile.model import Lab, Network, NetworkAttachment, PortPublish, Service
from .. import labels as L


def containers_on(client: docker.DockerClient, network: str) -> dict[str, str]:
    """Running containers on `network` that no looplab run made: member name -> id."""
    try:
        attrs = client.api.inspect_network(network)
    except docker.errors.NotFound:
        raise LooplabError(f"network {network!r} does not exist") from None
    out: dict[str, str] = {}
    for cid in attrs.get("Containers") or {}:
        c = client.api.inspect_container(cid)
        if c["State"].get("Running") and L.MANAGED not in (c["Config"].get("Labels") or {}):
            out[L.member_name(L.preferred_name(c, network))] = c["Id"]
    return out


def adopted_lab(
    client: docker.DockerClient, name: str, members: dict[str, str], networks: list[str]
) -> tuple[Lab, dict[str, str], dict[str, str]]:
    """The lab model of running containers (`members`: service name -> container id or name) on
    `networks` (engine names; by default every network they are on); its member -> container id
    and lab network -> engine network name."""
    attrs: dict[str, dict] = {}
    for member, ref in members.items():
        try:
            attrs[member] = client.api.inspect_container(ref)
        except docker.errors.NotFound:
            raise LooplabError(f"container {ref!r} ({member}) does not exist: start it first") from None
        if not attrs[member]["State"].get("Running"):
            raise LooplabError(f"container {ref!r} ({member}) is not running: start it first")
        if L.MANAGED in (attrs[member]["Config"].get("Labels") or {}):
            raise LooplabError(f"container {ref!r} ({member}) belongs to a looplab run: attach to that run instead")
    ids = {m: a["Id"] for m, a in attrs.items()}
    by_id = {cid: m for m, cid in ids.items()}
    engine_nets = list(networks) or sorted(
        {n for a in attrs.values() for n in (a["NetworkSettings"].get("Networks") or {})} - {"host", "none"}
    )
    for net in engine_nets:
        try:
            client.api.inspect_network(net)
        except docker.errors.NotFound:
            raise LooplabError(f"network {net!r} does not exist") from None
    services = tuple(_service(m, a, engine_nets, by_id) for m, a in attrs.items())
    lab = Lab(
        name=name,
        path=f"<adopted {name}>",
        services=services,
        networks=tuple(Network(n) for n in engine_nets),
        expectations=(),
    )
    return lab, ids, {n: n for n in engine_nets}


def _service(member: str, attrs: dict, nets: list[str], by_id: dict[str, str]) -> Service:
    mode = attrs["HostConfig"].get("NetworkMode") or ""
    network_mode = None
    if mode == "host" or mode == "none":
        network_mode = mode
    elif mode.startswith("container:"):
        owner = by_id.get(mode.split(":", 1)[1])
        if owner is None:
            raise LooplabError(f"{member} shares the namespace of a container that is not in the lab ({mode})")
        network_mode = f"service:{owner}"
    on = attrs["NetworkSettings"].get("Networks") or {}
    attachments = tuple(
        NetworkAttachment(n, tuple(a for a in (on[n].get("Aliases") or []) if a != member)) for n in nets if n in on
    )
    ports = []
    for key, bindings in (attrs["NetworkSettings"].get("Ports") or {}).items():
        cport, proto = key.split("/")
        if proto not in ("tcp", "udp"):
            continue
        for b in bindings or []:
            ports.append(PortPublish(b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), int(cport), proto))  # type: ignore[arg-type]
    exposed = sorted({int(k.split("/")[0]) for k in (attrs["Config"].get("ExposedPorts") or {}) if k.endswith("/tcp")})
    return Service(
        name=member,
        image=attrs["Config"].get("Image") or "",
        expose=tuple(exposed),
        networks=attachments if network_mode is None else (),
        network_mode=network_mode,
        ports=tuple(ports),
    )
