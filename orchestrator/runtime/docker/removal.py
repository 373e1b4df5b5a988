"""Remove labelled containers, then their networks, surviving the engine's own cleanup races."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors

from ...errors import EngineError
from .. import labels as L
from ..base import Removal

_WORKERS = 16


def teardown_run(client: docker.DockerClient, run_id: str) -> Removal:
    """Remove every container, then every network, carrying this run's label."""
    return remove_labelled(client, L.run_filter(run_id))


def remove_labelled(client: docker.DockerClient, filters: dict, keep: Callable[[dict], bool] | None = None) -> Removal:
    """Force-remove labelled containers (in parallel), then their networks.

    Another run may remove some of them meanwhile: those simply do not count.
    """
    try:
        containers = [
            c
            for c in client.containers.list(all=True, filters=filters, ignore_removed=True)
            if not (keep and keep(c.labels))
        ]
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(_remove_container, containers))
        networks = [
            n for n in client.networks.list(filters=filters) if not (keep and keep(n.attrs.get("Labels") or {}))
        ]
        with ThreadPoolExecutor(_WORKERS) as pool:
            left = [name for name in pool.map(_remove_network, networks) if name]
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot remove the lab's resources: {exc}") from exc
    found = len(containers) + len(networks)
    return Removal(found - len(left), tuple(left), found=found)


def _remove_container(container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc):
            return  # another run (or a parallel `down`) is removing it already
        raise


_ENDPOINT_RETRIES_S = (0.05, 0.1, 0.2, 0.4, 0.8)


def _remove_network(network) -> str | None:
    """Remove a network; returns its name when the engine keeps it for stale endpoints."""
    for pause in (*_ENDPOINT_RETRIES_S, None):
        try:
            network.remove()
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
        if pause is None:
            break
        _disconnect_all(network)
        time.sleep(pause)  # endpoints of a just-removed container go away asynchronously
    return network.name


def _disconnect_all(network) -> None:
    try:
        network.reload()
        for name in [c.get("Name") for c in (network.attrs.get("Containers") or {}).values()]:
            network.disconnect(name, force=True)
    except docker.errors.APIError:
        return  # the next removal attempt says whether it helped
