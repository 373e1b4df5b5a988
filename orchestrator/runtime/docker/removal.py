"""Remove labelled containers, then their networks, in an order the engine does not trip over.

The engine counts each network's endpoints in its store, and concurrent endpoint deletions on
one network lose decrements (moby#42119): a network whose count stays above zero with no
endpoint left can never be removed, until a daemon restart. Parallel force-removal of 150
containers on one network did that about one time in four. So (docs/ARCHITECTURE.md,
"Teardown order"): first every container is disconnected from the networks being removed,
one endpoint at a time per network (networks in parallel); then the containers, which no
longer hold an endpoint there, are removed in parallel; then the networks, one by one, once
the engine lists no endpoint on them. An endpoint is force-disconnected only when its
container is gone for good, never from a live container looplab did not remove. What still
cannot go is reported with its cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import docker
import docker.errors

from ...errors import EngineError
from .. import labels as L
from ..base import Leftover, Removal
from .waves import run_wave

_SETTLE_S = 3.0  # endpoints of just-removed containers are released asynchronously: bounded wait
_POLL_S = 0.05
_ENDPOINT_RETRIES_S = (0.05, 0.1, 0.2, 0.4, 0.8)


def teardown_run(client: docker.DockerClient, run_id: str) -> Removal:
    """Remove every container, then every network, carrying this run's label."""
    return remove_labelled(client, L.run_filter(run_id))


def remove_labelled(client: docker.DockerClient, filters: dict, keep: Callable[[dict], bool] | None = None) -> Removal:
    """Detach labelled containers from the labelled networks (one endpoint at a time per network),
    force-remove them (in parallel), then remove the networks (one by one).

    Another run may remove some of them meanwhile: those simply do not count.
    """
    try:
        containers = [
            c for c in client.api.containers(all=True, filters=filters) if not (keep and keep(c.get("Labels") or {}))
        ]
        networks = [n for n in client.api.networks(filters=filters) if not (keep and keep(n.get("Labels") or {}))]
        attached = _endpoints_by_network(containers, {n["Id"] for n in networks})
        run_wave([partial(_detach_one_by_one, client, net, cids) for net, cids in attached.items()], threading.Event())
        run_wave([partial(_remove_container, client, c["Id"]) for c in containers], threading.Event())
        left = [found for n in networks if (found := _remove_network(client, n["Id"], n.get("Name", "?")))]
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot remove the lab's resources: {exc}") from exc
    found = len(containers) + len(networks)
    return Removal(found - len(left), tuple(left), found=found)


def _endpoints_by_network(containers: list[dict], networks: set[str]) -> dict[str, list[str]]:
    """Network id -> the listed containers with an endpoint on it (only networks being removed)."""
    out: dict[str, list[str]] = {}
    for c in containers:
        for ep in ((c.get("NetworkSettings") or {}).get("Networks") or {}).values():
            if ep.get("NetworkID") in networks:
                out.setdefault(ep["NetworkID"], []).append(c["Id"])
    return out


def _detach_one_by_one(client: docker.DockerClient, net_id: str, cids: list[str]) -> None:
    """Disconnect these containers from one network, never two at once (the engine's endpoint
    count of a network loses updates made concurrently). Best effort: the removals follow."""
    for cid in cids:
        try:
            client.api.disconnect_container_from_network(cid, net_id, force=True)
        except docker.errors.APIError:
            continue  # gone already, or being removed by someone else: the removal handles it


def _remove_container(client: docker.DockerClient, cid: str) -> None:
    try:
        client.api.remove_container(cid, force=True, v=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc):
            _wait_gone(client, cid)  # another run (or a parallel `down`) is removing it: let it finish
            return
        raise


def _wait_gone(client: docker.DockerClient, cid: str) -> None:
    deadline = time.monotonic() + _SETTLE_S
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(cid)
        except docker.errors.NotFound:
            return
        time.sleep(_POLL_S)


def _attached(client: docker.DockerClient, net_id: str) -> dict[str, str] | None:
    """Endpoint key -> container name as the engine lists them on the network (None: it is gone)."""
    try:
        info = client.api.inspect_network(net_id)
    except docker.errors.NotFound:
        return None
    return {key: (ep.get("Name") or key) for key, ep in (info.get("Containers") or {}).items()}


def _exists(client: docker.DockerClient, key: str) -> bool:
    try:
        client.api.inspect_container(key)
    except docker.errors.NotFound:
        return False
    return True


def _remove_network(client: docker.DockerClient, net_id: str, name: str) -> Leftover | None:
    """Remove one network; what the engine keeps, with the cause, when it will not let go."""
    deadline = time.monotonic() + _SETTLE_S
    while (attached := _attached(client, net_id)) and time.monotonic() < deadline:
        if all(_exists(client, key) for key in attached):
            break  # live containers, not ours to remove: waiting changes nothing
        time.sleep(_POLL_S)  # endpoints of removed containers still being released
    if attached is None:
        return None
    error = ""
    for pause in (*_ENDPOINT_RETRIES_S, None):
        try:
            client.api.remove_network(net_id)
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            error = str(exc.explanation or exc)
        attached = _attached(client, net_id) or {}
        for key, who in attached.items():
            if not _exists(client, key):  # a stale endpoint: its container is gone for good
                try:
                    client.api.disconnect_container_from_network(who, net_id, force=True)
                except docker.errors.APIError:
                    pass  # the next removal attempt says whether it helped
        if pause is not None:
            time.sleep(pause)
    return Leftover("network", name, _why(client, attached, error))


def _why(client: docker.DockerClient, attached: dict[str, str], error: str) -> str:
    live = sorted(who for key, who in attached.items() if _exists(client, key))
    stale = sorted(who for key, who in attached.items() if who not in live)
    if live:
        return f"still in use by container(s) {', '.join(live)}, which this command does not remove"
    if stale:
        return f"the engine keeps stale endpoint(s) of removed container(s) {', '.join(stale)} ({error})"
    return (
        f"no container is attached, yet the engine refuses: {error}; its endpoint count is stale "
        "(a known Docker race, moby#42119) and only a daemon restart removes the network"
    )
