"""Ready = every declared listener is seen listening in its namespace (no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable

import docker
import docker.errors

from ..diagnosis.bind_failures import bind_failures
from ..errors import ReadinessError
from ..labfile.model import Lab, Listener
from ..probes import agent
from ..probes.launchers import Batch, Launcher
from ..resolution import dial_order
from .state import HOST, LabState

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


def _seen(listener: Listener, sockets: list[dict]) -> bool:
    return any(
        s.get("proto") == listener.proto and s.get("port") == listener.port and s.get("address") == listener.address
        for s in sockets
    )


def _url(lst: Listener) -> str:
    host = f"[{lst.address}]" if ":" in lst.address else lst.address
    return f"{lst.kind}://{host}:{lst.port}"


def wait_ready(
    client: docker.DockerClient,
    lab: Lab,
    state: LabState,
    launcher: Launcher,
    *,
    timeout_s: float,
    progress: Callable[[str], None],
) -> None:
    """Poll socket inventories until all declared listeners appear; record inventories and ::1 facts."""
    namespaces = all_namespaces(state)
    expected = {ns: [lst for lst in lab.listeners if state.namespace_of(lst.service) == ns] for ns in namespaces}
    pending = set(namespaces)
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        for ns in take_inventory(state, launcher, sorted(pending), owners=False):
            if all(_seen(lst, state.sockets[ns]) for lst in expected[ns]):
                pending.discard(ns)
        _give_up_on_bind_failures(client, state, expected, pending)
        if not pending:
            take_inventory(state, launcher, namespaces)  # once more, with the owning processes
            return
        _fail_if_exited(client, lab, state)
        missing = [lst for ns in pending for lst in expected[ns] if not _seen(lst, state.sockets.get(ns, []))]
        if time.monotonic() >= deadline:
            what = ", ".join(f"{lst.service} {_url(lst)}" for lst in missing) or "namespace inventory"
            raise ReadinessError(f"not listening after {timeout_s:g}s: {what}")
        progress(f"waiting for {len(missing)} listener(s): " + ", ".join(f"{x.service} {_url(x)}" for x in missing[:3]))
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_S)


def take_inventory(state: LabState, launcher: Launcher, namespaces: list[str], *, owners: bool = True) -> list[str]:
    """Read each namespace's listening sockets, ::1 status and `localhost` into `state`.

    With a local engine (setns/local launchers) this reads /proc/PID/... in-process: no agent
    process, no setns. Other launchers ask the agent in each namespace. Returns those read.
    """
    if launcher.name in ("setns", "local"):
        return [ns for ns in namespaces if _inventory_here(state, ns, owners=owners)]
    batches = [Batch(ns, state.netns_pid(ns), _container(state, ns), _inventory_probes(state, ns)) for ns in namespaces]
    read = []
    for ns, outcome in launcher.run(batches, deadline_s=30.0).items():
        if outcome.error or not outcome.results or outcome.results[0].get("state") != "ok":
            continue
        _record(state, ns, outcome.results[0], list(outcome.results[1].get("addresses") or []))
        read.append(ns)
    return read


def _inventory_probes(state: LabState, namespace: str) -> list[dict]:
    """The agent's way to the same facts, for launchers that cannot read /proc here."""
    pid = state.netns_pid(namespace)
    return [
        {"id": "inventory", "kind": "sockets"},
        {"id": "localhost", "kind": "resolve", "name": "localhost", "root": f"/proc/{pid}/root" if pid else "/"},
    ]


def _inventory_here(state: LabState, namespace: str, *, owners: bool) -> bool:
    pid = state.netns_pid(namespace)
    proc = f"/proc/{pid}" if pid else "/proc/self"
    try:
        result = agent.socket_inventory(proc=proc, owners=owners)
        with open(f"{proc}/root/etc/hosts", encoding="utf-8", errors="replace") as f:
            hosts = agent.hosts_lookup(f.read(), "localhost")
    except OSError:  # the process is gone or not ours to read: not read this time
        return False
    if result.get("state") != "ok":
        return False
    _record(state, namespace, result, hosts)
    return True


def _record(state: LabState, namespace: str, sockets: dict, localhost: list[str]) -> None:
    state.sockets[namespace] = list(sockets.get("sockets") or [])
    state.ipv6_loopback[namespace] = bool(sockets.get("ipv6_loopback"))
    state.localhost[namespace] = dial_order(localhost, state.ipv6_loopback[namespace])


def all_namespaces(state: LabState) -> list[str]:
    return sorted({HOST, *(m.namespace for m in state.members.values())})


def _give_up_on_bind_failures(
    client: docker.DockerClient, state: LabState, expected: dict[str, list[Listener]], pending: set[str]
) -> None:
    """A listener whose process logged that it could not bind will never appear: stop waiting
    for it (the matrix and the diagnosis will show why) and say so once as a warning."""
    for ns in list(pending):
        missing = [lst for lst in expected[ns] if not _seen(lst, state.sockets.get(ns, []))]
        failed = [
            line
            for member in state.members.values()
            if member.namespace == ns and member.role == "service"
            for line in bind_failures("\n".join(_log_lines(client, member.container_id)))
        ]
        for lst in missing:
            line = next((ln for ln in failed if _url(lst) in ln or f":{lst.port}" in ln), None)
            if line is not None:
                expected[ns] = [x for x in expected[ns] if x != lst]
                state.warnings.append(f"{lst.service} {_url(lst)} never listened: {line.strip()[:200]}")
        if all(_seen(lst, state.sockets.get(ns, [])) for lst in expected[ns]):
            pending.discard(ns)


def _log_lines(client: docker.DockerClient, container_id: str) -> list[str]:
    try:
        return client.api.logs(container_id, tail=50).decode(errors="replace").splitlines()
    except docker.errors.APIError:
        return []


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
