"""Ready = every declared listener is seen listening in its namespace (no fixed sleeps).

Inventories come from the launcher; whether a member still runs, and its logs, from the
runtime's handle. Both are contracts, so readiness works the same on every engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .addresses import host_port
from .diagnosis.bind_failures import bind_failures
from .errors import ReadinessError
from .labfile.model import Listener
from .members import settle_exited
from .probes.launchers import Launcher
from .resolution import dial_order, loopback_only
from .runtime.base import LiveLab
from .runtime.state import HOST, LabState

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


def _seen(listener: Listener, sockets: list[dict]) -> bool:
    return any(
        s.get("proto") == listener.proto and s.get("port") == listener.port and s.get("address") == listener.address
        for s in sockets
    )


def _url(lst: Listener) -> str:
    return f"{lst.scheme}://{host_port(lst.address, lst.port)}"


def wait_ready(live: LiveLab, launcher: Launcher, *, timeout_s: float, progress: Callable[[str], None]) -> None:
    """Poll socket inventories until all declared listeners appear; record inventories and ::1 facts.
    A service that exited non-zero fails the run; one that exited 0 leaves the model (`members.py`)."""
    lab, state = live.lab, live.state
    namespaces = state.all_namespaces()
    expected = {ns: [lst for lst in lab.listeners if state.namespace_of(lst.service) == ns] for ns in namespaces}
    pending = set(namespaces)
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        for ns in take_inventory(state, launcher, sorted(pending), owners=False):
            if all(_seen(lst, state.sockets[ns]) for lst in expected[ns]):
                pending.discard(ns)
        _give_up_on_bind_failures(live, expected, pending)
        pending -= settle_exited(live)  # every member, listeners or not: none exited non-zero
        if not pending:
            take_inventory(state, launcher, state.all_namespaces())  # once more, with the owning processes
            return
        missing = [lst for ns in pending for lst in expected[ns] if not _seen(lst, state.sockets.get(ns, []))]
        if time.monotonic() >= deadline:
            what = ", ".join(f"{lst.service} {_url(lst)}" for lst in missing) or "namespace inventory"
            raise ReadinessError(f"not listening after {timeout_s:g}s: {what}")
        progress(f"waiting for {len(missing)} listener(s): " + ", ".join(f"{x.service} {_url(x)}" for x in missing[:3]))
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_S)


def take_inventory(state: LabState, launcher: Launcher, namespaces: list[str], *, owners: bool = True) -> list[str]:
    """Read each namespace's listening sockets, ::1 status and `localhost` into `state`; the ones read."""
    running = [ns for ns in namespaces if ns == HOST or state.members[ns].pid > 0]  # the others: not read
    read = launcher.inventory([state.netns(ns) for ns in running], owners=owners)
    for ns, inv in read.items():
        state.sockets[ns] = inv.sockets
        state.ipv6_loopback[ns] = inv.ipv6_loopback
        kept, dropped = loopback_only(inv.localhost)
        state.localhost[ns] = dial_order(kept, inv.ipv6_loopback)
        if dropped:
            note = (
                f"localhost in {ns}'s /etc/hosts also names {', '.join(dropped)}, not loopback: "
                "left out (the matrix dials localhost only on loopback)"
            )
            if note not in state.warnings:
                state.warnings.append(note)
    return list(read)


def wait_ports(
    state: LabState, launcher: Launcher, wanted: dict[str, set[tuple[int, str]]], *, timeout_s: float
) -> list[str]:
    """Poll the inventories of the namespaces in `wanted` until a socket listens on each (port,
    proto), on any address; what is still missing after `timeout_s` ("app 8080/tcp"), [] if none.
    For containers looplab did not start (testcontainers), whose listeners nobody declared."""
    pending = {ns: set(ports) for ns, ports in wanted.items() if ports}
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while pending:
        for ns in take_inventory(state, launcher, sorted(pending), owners=False):
            seen = {(s.get("port"), s.get("proto")) for s in state.sockets.get(ns, [])}
            pending[ns] -= seen
            if not pending[ns]:
                del pending[ns]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_S)
    return [f"{ns} {port}/{proto}" for ns, ports in sorted(pending.items()) for port, proto in sorted(ports)]


def _give_up_on_bind_failures(live: LiveLab, expected: dict[str, list[Listener]], pending: set[str]) -> None:
    """A listener whose process logged that it could not bind will never appear: stop waiting
    for it (the matrix and the diagnosis will show why) and say so once as a warning."""
    state = live.state
    for ns in list(pending):
        missing = [lst for lst in expected[ns] if not _seen(lst, state.sockets.get(ns, []))]
        failed = [
            line
            for member in state.members.values()
            if member.namespace == ns and member.role == "service"
            for line in bind_failures(live.handle.logs(member.name))
        ]
        for lst in missing:
            line = next((ln for ln in failed if _url(lst) in ln or f":{lst.port}" in ln), None)
            if line is not None:
                expected[ns] = [x for x in expected[ns] if x != lst]
                state.warnings.append(f"{lst.service} {_url(lst)} never listened: {line.strip()[:200]}")
        if all(_seen(lst, state.sockets.get(ns, [])) for lst in expected[ns]):
            pending.discard(ns)
