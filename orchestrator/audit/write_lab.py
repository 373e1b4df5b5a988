"""`--write-lab FILE`: a looplab lab file that reproduces what an audit saw, as a regression test.

It keeps what decides reachability (images, entrypoints and commands, added capabilities,
networks with their aliases, published and exposed ports, shared namespaces) and pins every
cell that crosses a namespace (a peer's address, a published port) and every listener's own
loopback to the state observed, so `looplab check FILE` fails the day one of them changes.
Environment, volumes and secrets are not copied: the file says so, and names every image that
no registry holds (built on this machine).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..domain import Cell
from ..runtime.foreign import ForeignContainer
from .model import Audit


def _q(value: object) -> str:
    """A YAML scalar or flow sequence, quoted as JSON (JSON is YAML)."""
    return json.dumps(value)


def lab_text(audit: Audit, name: str) -> str:
    """The lab file's text for an audit (`name`: the lab's name)."""
    containers = audit.containers
    short = {n.engine_name: n.short_name for c in containers for n in c.networks}
    lines = [
        f"# Written by `looplab audit --write-lab` from {audit.subject}.",
        "# Images, commands, networks and ports as the engine reported them; x-looplab.expect pins the",
        "# states observed. Not copied: environment (it may hold secrets), volumes, secrets, configs.",
        "# Published host ports are the stack's own: stop the stack before `looplab check` runs this file.",
        f"name: {_q(name)}",
        "services:",
    ]
    by_id = {c.id: c.member for c in containers}
    for c in containers:
        lines += _service(c, short, by_id)
    networks = sorted({(n.short_name, n.internal) for c in containers for n in c.networks})
    if networks:
        lines.append("networks:")
        lines += [f"  {_q(n)}: {{internal: true}}" if internal else f"  {_q(n)}: {{}}" for n, internal in networks]
    pins = list(_pins(audit.report.cells, containers, short))
    lines.append("x-looplab:")
    if pins:
        lines.append("  expect:")
        lines += [f"    - {pin}" for pin in pins]
    else:
        lines.append("  expect: []")
    return "\n".join(lines) + "\n"


def _service(c: ForeignContainer, short: dict[str, str], by_id: dict[str, str]) -> list[str]:
    note = (
        "  # built on this machine, in no registry: build or load it where this lab runs" if c.image_local_only else ""
    )
    out = [f"  {_q(c.member)}:", f"    image: {_q(c.image)}{note}"]
    if c.entrypoint is not None:
        out.append(f"    entrypoint: {_q(list(c.entrypoint))}")
    if c.command:
        out.append(f"    command: {_q(list(c.command))}")
    if c.cap_add:
        out.append(f"    cap_add: {_q(list(c.cap_add))}")
    if c.network_mode == "none" or c.network_mode.startswith("container:"):
        shared = c.network_mode.removeprefix("container:")
        mode = "none" if c.network_mode == "none" else f"service:{by_id.get(shared, shared)}"
        out.append(f"    network_mode: {_q(mode)}")
        return out
    nets = []
    for n in c.networks:
        aliases = [a for a in n.aliases if a not in (c.member, c.name) and not c.id.startswith(a)]
        nets.append((short.get(n.engine_name, n.engine_name), aliases))
    if any(aliases for _, aliases in nets):
        out.append("    networks:")
        out += [f"      {_q(n)}: {{aliases: {_q(a)}}}" if a else f"      {_q(n)}: {{}}" for n, a in nets]
    elif nets:
        out.append(f"    networks: {_q([n for n, _ in nets])}")
    if c.published:
        ports = [f"{_host_ip(p.host_ip)}:{p.host_port}:{p.container_port}/{p.proto}" for p in c.published]
        out.append(f"    ports: {_q(ports)}")
    exposed = [
        f"{port}/{proto}"
        for port, proto in c.exposed
        if (port, proto) not in {(p.container_port, p.proto) for p in c.published}
    ]
    if exposed:
        out.append(f"    expose: {_q(exposed)}")
    return out


def _host_ip(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip or "0.0.0.0"


def _pins(cells: Iterable[Cell], containers: Iterable[ForeignContainer], short: dict[str, str]) -> Iterable[str]:
    """Expectations for the cells worth keeping: across namespaces, and each listener's own loopback."""
    members = {c.member for c in containers}
    for cell in cells:
        own_loopback = (
            cell.target_kind == "loopback" and cell.vantage in members and cell.state not in ("closed", "unreachable")
        )
        if cell.target_kind not in ("network", "published") and not own_loopback:
            continue
        if cell.vantage == "@neighbour" or cell.state == "error":
            continue  # made only with --lan; an error is not a state to pin
        vantage = cell.vantage
        if vantage.startswith("@") and vantage[1:] in short:
            vantage = f"@{short[vantage[1:]]}"
        proto = f", proto: {cell.proto}" if cell.proto != "tcp" else ""
        yield f"{{from: {_q(vantage)}, to: {_q(cell.target)}, state: {_q(cell.state)}{proto}}}"
