"""testcontainers interop: any started container is a vantage and a target; a network is a lab.

    with DockerContainer("looplab/toolbox").with_command("serve tcp://127.0.0.1:8080") as c:
        assert probe(c, "127.0.0.1:8080").state == "open"            # from c's own namespace
        assert probe("host", c, 8080).state in ("closed", "filtered")  # the host cannot reach it

Containers are taken by duck typing: a testcontainers `DockerContainer` (its public
`get_wrapped_container()`), a docker-py `Container` (`.id`, `.name`) or an id/name string; a
network as a testcontainers `Network` or docker-py `Network` (`.name`) or its name. Nothing
here imports testcontainers or docker: looplab talks to the engine through its own client
(runtime/docker/), never through testcontainers' private `get_docker_client()`.

Cleanup holds offline: what looplab adds (observers, the `@outside` network, launcher helpers)
carries looplab's labels and is removed when the call returns, or by `looplab gc` after a hard
kill. testcontainers' own reaper (Ryuk) needs an image pull; where nothing can be pulled, set
TESTCONTAINERS_RYUK_DISABLED=true and let the `with` blocks remove the containers (README).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from .domain import Report
from .errors import LooplabError
from .inprocess import OpenLab, ProbeOutcome, failure_text
from .runtime.labels import member_name, preferred_name
from .session import RunOptions


def container_ref(obj: Any) -> tuple[str, str]:
    """(member name, container id or name) of a started container in any of the accepted forms."""
    if isinstance(obj, str):
        return _member(obj), obj
    try:
        wrapped = obj.get_wrapped_container() if hasattr(obj, "get_wrapped_container") else obj
    except Exception:  # testcontainers raises ContainerStartException before start()
        wrapped = None
    cid = getattr(wrapped, "id", None)
    if not cid:
        raise LooplabError(f"{obj!r} is not a started container (start it, or pass its id)")
    attrs = getattr(wrapped, "attrs", None)
    name = preferred_name(attrs) if isinstance(attrs, dict) and attrs else getattr(wrapped, "name", None) or cid[:12]
    return _member(name), cid


def network_ref(obj: Any) -> str:
    """The engine's name of a network in any of the accepted forms."""
    name = obj if isinstance(obj, str) else getattr(obj, "name", None)
    if not name:
        raise LooplabError(f"{obj!r} is not a network (pass a testcontainers Network, a docker-py Network or a name)")
    return str(name)


def probe(
    vantage: Any,
    target: Any,
    port: int | None = None,
    *,
    kind: str = "tcp",
    opts: RunOptions | None = None,
    ready_timeout_s: float = 10.0,
) -> ProbeOutcome:
    """One probe from inside `vantage` ("host" or a container) to `target`: a target string as the
    lab file writes it (`127.0.0.1:8080` is the vantage's own loopback) or a container and `port`.

    A container just started may not listen yet: the probe first waits (at most `ready_timeout_s`)
    until something listens on the port in the namespace that answers it, then dials."""
    members: dict[str, str] = {}
    vantage_name = vantage if vantage == "host" else _add(members, vantage)
    if isinstance(target, str) and port is None:
        target_text = target
    elif port is not None:
        target_text = f"{_add(members, target)}:{int(port)}"
    else:
        raise LooplabError(f"target {target!r}: give a target string, or a container and a port")
    if not members:
        raise LooplabError("name at least one container (the vantage or the target)")
    with OpenLab.adopt(_lab_name(), members, (), opts, observers=False) as lab:
        waited = _listening_end(vantage_name, target_text, members)
        if waited is not None and kind in ("tcp", "udp", "http"):  # a container just started may not listen yet
            lab.wait_listening(*waited, "udp" if kind == "udp" else "tcp", timeout_s=ready_timeout_s)
        return _settled(lab.probe(vantage_name, target_text, kind))


def open_lab(
    network: Any = None,
    *containers: Any,
    expect: Iterable[Any] = (),
    name: str | None = None,
    opts: RunOptions | None = None,
) -> OpenLab:
    """Containers (and the network they share) as a lab held open: `lab.probe(...)`, `lab.matrix()`;
    close it (or use `with`) to remove what looplab added. With no containers, every running
    container on `network` is taken. `expect`: `(from, to, state)` tuples or lab-file style dicts."""
    networks = [network_ref(network)] if network is not None else []
    members: dict[str, str] = {}
    for c in containers:
        _add(members, c)
    if not containers:
        members = _on_network(networks, opts)
    if not members:
        raise LooplabError(f"no running container on network {networks[0] if networks else '?'} to check")
    return OpenLab.adopt(name or _lab_name(), members, networks, opts, expect=expect)


def check(
    network: Any = None,
    *containers: Any,
    expect: Iterable[Any] = (),
    name: str | None = None,
    opts: RunOptions | None = None,
) -> Report:
    """The whole matrix of a testcontainers network and its containers (see `open_lab`)."""
    with open_lab(network, *containers, expect=expect, name=name, opts=opts) as lab:
        return lab.matrix()


def assert_isolated(
    network: Any = None,
    *containers: Any,
    expect: Iterable[Any] = (),
    opts: RunOptions | None = None,
) -> Report:
    """`check`, raising AssertionError with every failing cell, its diagnosis and how to repeat it."""
    report = check(network, *containers, expect=expect, opts=opts)
    if not report.ok:
        raise AssertionError(failure_text(report))
    return report


def _listening_end(vantage: str, target: str, members: dict[str, str]) -> tuple[str, int] | None:
    """(member, port) whose socket answers `target` dialled from `vantage`; None for the host's."""
    name, _, port = target.rpartition(":")
    if not port.isdigit():
        return None
    if name in ("127.0.0.1", "[::1]", "localhost"):
        return (vantage, int(port)) if vantage in members else None
    return (name, int(port)) if name in members else None


def _add(members: dict[str, str], obj: Any) -> str:
    member, ref = container_ref(obj)
    if members.get(member, ref) != ref:
        member = f"{member}-{len(members)}"
    members[member] = ref
    return member


def _member(text: str) -> str:
    return member_name(text)


def _on_network(networks: list[str], opts: RunOptions | None) -> dict[str, str]:
    if not networks:
        raise LooplabError("give a network, or the containers to check")
    return (opts or RunOptions()).make_runtime().containers_on(networks[0])


def _settled(outcome: ProbeOutcome) -> ProbeOutcome:
    outcome.diagnosis  # noqa: B018 -- read it now: the lab is removed when the call returns
    return outcome


def _lab_name() -> str:
    return f"tc-{secrets.token_hex(3)}"


__all__ = ["assert_isolated", "check", "container_ref", "network_ref", "open_lab", "probe"]
