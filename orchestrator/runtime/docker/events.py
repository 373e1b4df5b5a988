"""The engine's network events in a time window: evidence that it rewrote its firewall rules.

On Docker 20.10 creating (or connecting to) a bridge network rewrites the isolation chains, and
for a few milliseconds traffic crosses bridges. A probe that saw an exposure in such a window
is explained with the event that opened it.
"""

from __future__ import annotations

import docker
import docker.errors

from ..state import NetworkEvent

BRIDGE_ACTIONS = ("create", "connect", "disconnect", "destroy")


def network_events(client: docker.DockerClient, since: float, until: float, ours: set[str]) -> list[NetworkEvent]:
    """Bridge-network events between `since` and `until` (unix seconds); `ours`: this run's network names."""
    out: list[NetworkEvent] = []
    try:
        stream = client.events(
            since=f"{since:.6f}", until=f"{max(until, since):.6f}", filters={"type": "network"}, decode=True
        )
        for event in stream:
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            if attributes.get("type", "bridge") != "bridge" or event.get("Action") not in BRIDGE_ACTIONS:
                continue  # host / none "networks" rewrite nothing
            name = attributes.get("name") or ""
            nanos = event.get("timeNano")
            at = nanos / 1e9 if nanos else float(event.get("time") or 0)
            out.append(NetworkEvent(event["Action"], name, at, name in ours))
    except (docker.errors.DockerException, OSError, ValueError, KeyError):
        return out
    return sorted(out, key=lambda e: e.at)
