"""Listeners found in a namespace's socket table that the lab did not declare."""

from __future__ import annotations

from dataclasses import replace

from .addresses import owner_text
from .labfile.model import Lab, Listener
from .probes.agent.resolve import DOCKER_DNS  # its embedded resolver, in every user-network container
from .runtime.state import HOST, LabState


def discovered_listeners(lab: Lab, state: LabState) -> dict[str, list[Listener]]:
    """Per service owning a namespace: sockets listening there that no declared listener matches.

    The host's namespace (and so host-mode services) is left out: it holds the whole machine's sockets.
    """
    found: dict[str, list[Listener]] = {}
    services = {s.name for s in lab.services}
    for namespace, sockets in state.sockets.items():
        if namespace == HOST or namespace not in services:
            continue
        declared = {
            (lst.proto, lst.address, lst.port) for lst in lab.listeners if state.namespace_of(lst.service) == namespace
        }
        for sock in sockets:
            key = (sock["proto"], sock["address"], sock["port"])
            if key in declared or sock["address"] == DOCKER_DNS:
                continue
            process = owner_text(sock) or None
            found.setdefault(namespace, []).append(
                Listener(namespace, sock["proto"], sock["address"], sock["port"], discovered=True, process=process)
            )
    return found


def with_discovered(lab: Lab, state: LabState) -> Lab:
    """The lab with discovered listeners added to the services that own their namespaces."""
    found = discovered_listeners(lab, state)
    if not found:
        return lab
    services = tuple(replace(s, listeners=s.listeners + tuple(found.get(s.name, ()))) for s in lab.services)
    return replace(lab, services=services)
