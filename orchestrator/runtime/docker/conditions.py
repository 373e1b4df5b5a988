"""Compose's `depends_on` conditions beyond a start: wait until a dependency is healthy
(`service_healthy`) or has exited 0 (`service_completed_successfully`) before creating the
service that waits for it. Polled from the engine's own record (`State`), with backoff;
`stop` (an Event the runner sets on a signal) ends the wait at once.
"""

from __future__ import annotations

import threading
import time

import docker
import docker.errors

from ...errors import EngineError, LooplabError, ReadinessError
from ...labfile.model import Service

_FIRST_POLL_S = 0.05
_MAX_POLL_S = 0.5


def wait_for_dependencies(
    client: docker.DockerClient, svc: Service, ids: dict[str, str], *, timeout_s: float, stop: threading.Event
) -> None:
    """Return once every condition of `svc.waits_for` holds; ReadinessError (with the file's
    location and the dependency's own words) when one never can."""
    for dep, condition in svc.waits_for:
        _wait_one(client, svc, dep, condition, ids[dep], timeout_s, stop)


def _wait_one(
    client: docker.DockerClient,
    svc: Service,
    dep: str,
    condition: str,
    cid: str,
    timeout_s: float,
    stop: threading.Event,
) -> None:
    where = f"{svc.location}: " if svc.location else ""
    at = f"{where}services.{svc.name}.depends_on.{dep}: "
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while not stop.is_set():
        state = _state(client, cid, dep)
        verdict = _verdict(state, condition)
        if verdict is True:
            return
        if isinstance(verdict, str):
            raise ReadinessError(at + verdict)
        if time.monotonic() >= deadline:
            goal = "healthy" if condition == "service_healthy" else "done"
            raise ReadinessError(f"{at}{dep} was not {goal} after {timeout_s:g}s ({condition})")
        stop.wait(pause)
        pause = min(pause * 2, _MAX_POLL_S)
    raise LooplabError(f"{at}stopped waiting for {dep}: the run is ending")


def _state(client: docker.DockerClient, cid: str, dep: str) -> dict:
    try:
        return client.api.inspect_container(cid)["State"]
    except docker.errors.NotFound:
        raise ReadinessError(f"{dep}: its container vanished") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot inspect {dep}: {exc.explanation or exc}") from exc


def _verdict(state: dict, condition: str) -> bool | str | None:
    """True: the condition holds; a string: it never will (why); None: not yet."""
    exited = state.get("Status") in ("exited", "dead")
    code = state.get("ExitCode")
    if condition == "service_completed_successfully":
        if not exited:
            return None
        return True if code == 0 else f"it exited with code {code} (service_completed_successfully needs 0)"
    health = (state.get("Health") or {}).get("Status")
    if health == "healthy":
        return True
    if exited:
        return f"it exited with code {code} before it was healthy"
    if health == "unhealthy":
        log = (state.get("Health") or {}).get("Log") or [{}]
        said = (log[-1].get("Output") or "").strip().splitlines()[-1:] or ["no output"]
        return f"it is unhealthy: {said[0][:200]}"
    return None
