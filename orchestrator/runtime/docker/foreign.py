"""Read containers looplab did not start, for `looplab audit`: inspect only, never a change.

Selection errors are one line each (`LooplabError`, exit 2): a project nobody runs, a container
that does not exist, is stopped, or uses the host's network (its sockets are the host's: there is
no namespace of its own to audit). With `--project` or `--all` such containers are left out and
named in a warning instead, since a stack's one-shot jobs exit on purpose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import docker
import docker.errors

from ...errors import EngineError, LooplabError
from .. import labels as L
from ..foreign import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    ForeignContainer,
    ForeignNetwork,
    ForeignPublish,
    Selection,
    compose_needs,
)

NETWORK_LABEL = "com.docker.compose.network"


def foreign_containers(
    client: docker.DockerClient, selection: Selection, warn: Callable[[str], None]
) -> list[ForeignContainer]:
    """The selected containers, read from the engine; what cannot be audited is refused or left out."""
    try:
        attrs = _selected(client, selection)
        images: dict[str, dict] = {}
        networks: dict[str, dict] = {}
        for a in attrs:
            images.setdefault(a["Image"], _inspect_image(client, a["Image"]))
            for net in a["NetworkSettings"].get("Networks") or {}:
                networks.setdefault(net, _inspect_network(client, net))
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot read the containers to audit: {exc.explanation or exc}") from None
    strict = bool(selection.containers)
    usable = []
    for a in attrs:
        why = _unusable(a)
        if why is None:
            usable.append(a)
        elif strict:
            raise LooplabError(f"container {_name(a)} {why}")
        else:
            warn(f"left out {_name(a)}: it {why}")
    if not usable:
        raise LooplabError(
            f"nothing to audit in {selection.describe()}: no running container with a network of its own"
        )
    members = _member_names(usable)
    return [_record(a, members[a["Id"]], images[a["Image"]], networks) for a in usable]


def _selected(client: docker.DockerClient, selection: Selection) -> list[dict]:
    if selection.containers:
        out = []
        for ref in selection.containers:
            try:
                out.append(client.api.inspect_container(ref))
            except docker.errors.NotFound:
                raise LooplabError(f"container {ref} does not exist (docker ps lists the running ones)") from None
        for a in out:
            if L.MANAGED in (a["Config"].get("Labels") or {}):
                raise LooplabError(f"container {_name(a)} belongs to a looplab run: `looplab check` probes it already")
        return out
    filters = {"label": f"{PROJECT_LABEL}={selection.project}"} if selection.project else {}
    listed = client.api.containers(all=bool(selection.project), filters=filters)
    if selection.project and not listed:
        raise LooplabError(
            f"no container belongs to Compose project {selection.project!r} "
            f"(label {PROJECT_LABEL}; `docker compose ls` lists the projects)"
        )
    found = [client.api.inspect_container(c["Id"]) for c in listed]
    return [a for a in found if L.MANAGED not in (a["Config"].get("Labels") or {})]


def _unusable(attrs: dict) -> str | None:
    state = attrs["State"]
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        return f"is not running ({_status(attrs)}): start it first"
    mode = attrs["HostConfig"].get("NetworkMode") or ""
    if mode == "host":
        return (
            "uses the host's network (network_mode: host): its listeners are the host's, "
            "there is no namespace of its own to audit"
        )
    return None


def _member_names(attrs: list[dict]) -> dict[str, str]:
    """Compose service names where they are unique, `service-N` for a scaled service, else the name."""
    services = Counter((a["Config"].get("Labels") or {}).get(SERVICE_LABEL) for a in attrs)
    out = {}
    for a in attrs:
        labels = a["Config"].get("Labels") or {}
        service, number = labels.get(SERVICE_LABEL), labels.get("com.docker.compose.container-number")
        if service and services[service] == 1:
            out[a["Id"]] = L.member_name(service)
        elif service and number:
            out[a["Id"]] = L.member_name(f"{service}-{number}")
        else:
            out[a["Id"]] = L.member_name(_name(a))
    taken = Counter(out.values())
    return {a["Id"]: out[a["Id"]] if taken[out[a["Id"]]] == 1 else L.member_name(_name(a)) for a in attrs}


def _record(attrs: dict, member: str, image: dict, networks: dict[str, dict]) -> ForeignContainer:
    config, host = attrs["Config"], attrs["HostConfig"]
    labels = config.get("Labels") or {}
    image_config = image.get("Config") or {}
    entrypoint = tuple(config.get("Entrypoint") or ())
    on = attrs["NetworkSettings"].get("Networks") or {}
    return ForeignContainer(
        id=attrs["Id"],
        name=_name(attrs),
        member=member,
        project=labels.get(PROJECT_LABEL, ""),
        network_mode=host.get("NetworkMode") or "bridge",
        image=config.get("Image") or attrs["Image"],
        image_local_only=not image.get("RepoDigests"),
        entrypoint=None if entrypoint == tuple(image_config.get("Entrypoint") or ()) else entrypoint,
        command=tuple(config.get("Cmd") or ()),
        cap_add=tuple(host.get("CapAdd") or ()),
        networks=tuple(
            ForeignNetwork(
                engine_name=net,
                short_name=(networks[net].get("Labels") or {}).get(NETWORK_LABEL) or net,
                internal=bool(networks[net].get("Internal")),
                aliases=tuple(a for a in (on[net].get("Aliases") or []) if not attrs["Id"].startswith(a)),
            )
            for net in sorted(on)
            if net not in ("host", "none") and net in networks
        ),
        published=_published(attrs),
        exposed=tuple(
            sorted((int(k.split("/")[0]), k.split("/")[1]) for k in (config.get("ExposedPorts") or {}) if "/" in k)
        ),
        needs=compose_needs(labels),
    )


def _published(attrs: dict) -> tuple[ForeignPublish, ...]:
    out = []
    for key, bindings in (attrs["NetworkSettings"].get("Ports") or {}).items():
        port, proto = key.split("/")
        for b in bindings or []:
            out.append(ForeignPublish(b.get("HostIp") or "0.0.0.0", int(b["HostPort"]), int(port), proto))
    return tuple(sorted(out, key=lambda p: (p.container_port, p.proto, p.host_ip)))


def _inspect_image(client: docker.DockerClient, ref: str) -> dict:
    try:
        return client.api.inspect_image(ref)
    except docker.errors.NotFound:  # removed since the container started: nothing to compare with
        return {}


def _inspect_network(client: docker.DockerClient, name: str) -> dict:
    try:
        return client.api.inspect_network(name)
    except docker.errors.NotFound:
        return {}


def _name(attrs: dict) -> str:
    return (attrs.get("Name") or attrs["Id"][:12]).lstrip("/")


def _status(attrs: dict) -> str:
    state = attrs["State"]
    status = state.get("Status") or "unknown"
    return f"{status} ({state.get('ExitCode')})" if status == "exited" else status
