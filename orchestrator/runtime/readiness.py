"""Ready = every declared listener is seen listening in its namespace (no fixed sleeps)."""

from __future__ import annotations

import time
from typing import Callable

import docker
import docker.errors

from ..errors import ReadinessError
from ..probes.launchers import Batch, Launcher
from ..spec.model import Lab, Listener
from .state import HOST, LabState

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


def _seen(listener: Listener, sockets: list[dict]) -> bool:
    return any(s.get("proto") == listener.proto and s.get("port") == listener.port
               and s.get("address") == listener.address for s in sockets)


def _url(lst: Listener) -> str:
    host = f"[{lst.address}]" if ":" in lst.address else lst.address
    return f"{lst.kind}://{host}:{lst.port}"


def wait_ready(client: docker.DockerClient, lab: Lab, state: LabState, launcher: Launcher, *,
               timeout_s: float, progress: Callable[[str], None]) -> None:
    """Poll socket inventories until all declared listeners appear; record inventories and ::1 facts."""
    namespaces = sorted({HOST, *(m.namespace for m in state.members.values())})
    expected = {ns: [lst for lst in lab.listeners if state.namespace_of(lst.service) == ns] for ns in namespaces}
    pending = set(namespaces)
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        batches = [Batch(ns, state.netns_pid(ns), _container(state, ns), [{"id": "inventory", "kind": "sockets"}])
                   for ns in sorted(pending)]
        outcomes = launcher.run(batches, deadline_s=max(10.0, timeout_s))
        for ns in list(pending):
            outcome = outcomes.get(ns)
            if outcome is None or outcome.error or not outcome.results:
                continue
            result = outcome.results[0]
            state.sockets[ns] = list(result.get("sockets") or [])
            state.ipv6_loopback[ns] = bool(result.get("ipv6_loopback"))
            if all(_seen(lst, state.sockets[ns]) for lst in expected[ns]):
                pending.discard(ns)
        if not pending:
            return
        _fail_if_exited(client, lab, state)
        missing = [lst for ns in pending for lst in expected[ns] if not _seen(lst, state.sockets.get(ns, []))]
        if time.monotonic() >= deadline:
            what = ", ".join(f"{lst.service} {_url(lst)}" for lst in missing) or "namespace inventory"
            raise ReadinessError(f"not listening after {timeout_s:g}s: {what}")
        progress(f"waiting for {len(missing)} listener(s): " + ", ".join(f"{x.service} {_url(x)}" for x in missing[:3]))
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_S)


def _container(state: LabState, namespace: str) -> str | None:
    return None if namespace == HOST else state.members[namespace].container_id


def _fail_if_exited(client: docker.DockerClient, lab: Lab, state: LabState) -> None:
    for member in state.members.values():
        try:
            attrs = client.api.inspect_container(member.container_id)
        except docker.errors.NotFound:
            raise ReadinessError(f"{member.name}: its container vanished while starting") from None
        st = attrs["State"]
        if st.get("Status") in ("exited", "dead"):
            logs = client.api.logs(member.container_id, tail=3).decode(errors="replace").strip().splitlines()
            last = logs[-1] if logs else "no output"
            where = ""
            svc = next((s for s in lab.services if s.name == member.name), None)
            if svc is not None and svc.location is not None:
                where = f"{svc.location}: "
            raise ReadinessError(f"{where}service {member.name} exited with code {st.get('ExitCode')}: {last[:200]}")
