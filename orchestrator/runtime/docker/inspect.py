"""Read back from the engine what a run made: pids, addresses, gateways, published ports."""

from __future__ import annotations

import docker

from ...labfile.model import Lab
from ..state import HOST, LabState, MemberState, NetworkState, Published


def inspect_run(
    client: docker.DockerClient, lab: Lab, run_id: str, net_names: dict[str, str], ids: dict[str, str]
) -> LabState:
    """Read back from the engine what a run made: pids, addresses, gateways, published ports."""
    networks: dict[str, NetworkState] = {}
    by_docker_name = {v: k for k, v in net_names.items()}
    for name, docker_name in net_names.items():
        attrs = client.api.inspect_network(docker_name)
        cfg = (attrs.get("IPAM", {}).get("Config") or [{}])[0]
        networks[name] = NetworkState(name, cfg.get("Gateway", ""), bool(attrs.get("Internal")), cfg.get("Subnet", ""))
    services = {s.name: s for s in lab.services}
    members: dict[str, MemberState] = {}
    published: list[Published] = []
    owners_first = sorted(lab.services, key=lambda s: s.shares_namespace_with is not None)
    for member in [*(s.name for s in owners_first), *(m for m in ids if m not in services)]:
        if member not in ids:
            continue
        attrs = client.api.inspect_container(ids[member])
        addresses = {
            by_docker_name[n]: ep.get("IPAddress", "")
            for n, ep in (attrs["NetworkSettings"].get("Networks") or {}).items()
            if n in by_docker_name and ep.get("IPAddress")
        }
        svc = services.get(member)
        if svc is not None and svc.is_host_mode:
            namespace = HOST
        elif svc is not None and svc.shares_namespace_with:
            namespace = svc.shares_namespace_with
            addresses = dict(members[namespace].addresses) if namespace in members else addresses
        else:
            namespace = member
        members[member] = MemberState(
            member,
            "service" if svc else "observer",
            ids[member],
            attrs["Name"].lstrip("/"),
            int(attrs["State"]["Pid"]),
            namespace,
            addresses,
        )
        for key, bindings in (attrs["NetworkSettings"].get("Ports") or {}).items():
            cport, proto = key.split("/")
            for b in bindings or []:
                published.append(Published(member, int(cport), proto, b["HostIp"], int(b["HostPort"])))
    return LabState(lab.name, run_id, members, networks, tuple(published))
