"""The matrix: every vantage × target with its expected state (the isolation model).

Rules (docs/ARCHITECTURE.md; each checked against the engine):
1. a loopback-bound listener is open only from its own namespace; elsewhere its port is closed;
2. a listener on 0.0.0.0/:: is open from every vantage sharing a network with it (the host
   is on every lab bridge as its gateway); no shared network gives filtered/unreachable;
3. a port published on the host's 127.0.0.1 is open from the host only when the container side
   listens on a non-loopback address (else the proxy accepts then resets); never open from @outside;
4. a port published on 0.0.0.0 is open from @outside via its gateway;
5. host-mode services live in the host's namespace;
6. members of an internal network have no way out of it (filtered/unreachable);
7. a declared firewall rule turns matching cells filtered (drop) or closed (reject).
Listeners discovered in a namespace but not declared are expected to be reachable only from
that namespace: open from anywhere else is exposed.
Explicit `x-looplab.expect` entries override, and may add cells outside the derived matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .addresses import answers, host_port
from .domain import PlannedCell, TargetKind
from .engine_rules import apply_engine_rules
from .errors import LooplabError
from .isolation import expected_by, isolation_reason, unresolved_cell
from .labfile.model import ANY_V4, ANY_V6, LOOPBACK_V4, LOOPBACK_V6, Lab, Listener
from .neighbour_cells import neighbour_cell_for, neighbour_cells
from .runtime.state import HOST, NEIGHBOUR, OUTSIDE, LabState, Published

NOT_REACHABLE = frozenset({"filtered", "unreachable"})
NOT_OPEN = frozenset({"closed", "filtered", "unreachable", "open|filtered"})


def vantages(lab: Lab) -> list[str]:
    """Rows in order: host, services, `@NET` observers, `@outside`, and `@neighbour` (made only
    when asked for: `--lan`)."""
    return [HOST, *(s.name for s in lab.services), *(f"@{n.name}" for n in lab.networks), OUTSIDE, NEIGHBOUR]


def _rows(lab: Lab, state: LabState) -> list[str]:
    """The vantages that exist in this run (`up` starts observers only when first needed)."""
    return [v for v in vantages(lab) if v == HOST or v in state.members]


def _made(state: LabState, vantage: str) -> bool:
    """Does this run have the vantage (the host always; an observer or the neighbour once made)?"""
    return vantage == HOST or vantage in state.members or (vantage == NEIGHBOUR and state.neighbour is not None)


def plan(lab: Lab, state: LabState) -> list[PlannedCell]:
    """The derived matrix, then the explicit expectations applied on top."""
    cells = [*_loopback_cells(lab, state), *_network_cells(lab, state), *_published_cells(lab, state)]
    cells += neighbour_cells(lab, state)
    if lab.probe.icmp:
        cells += _icmp_cells(lab, state)
    cells = _apply_expectations(_apply_firewall(_located(cells, lab, state), lab, state), lab, state)
    return apply_engine_rules(cells, state)


def _located(cells: Iterable[PlannedCell], lab: Lab, state: LabState) -> list[PlannedCell]:
    """The cells with their target namespace and probe kind (an http listener there gets a GET)."""
    http = {(state.namespace_of(x.service), x.port) for x in lab.listeners if x.scheme == "http"}
    out = []
    for cell in cells:
        target_ns = target_namespace(cell.vantage, cell.target, cell.target_kind, state)
        probe = "http" if cell.proto == "tcp" and (target_ns, cell.port) in http else cell.probe
        out.append(replace(cell, target_ns=target_ns, probe=probe))
    return out


# -- helpers on listeners ------------------------------------------------------
def _listeners_in(lab: Lab, state: LabState, namespace: str) -> list[Listener]:
    return [lst for lst in lab.listeners if state.namespace_of(lst.service) == namespace]


def _ports(lab: Lab) -> list[tuple[int, str]]:
    seen: dict[tuple[int, str], None] = {}
    for lst in lab.listeners:
        seen.setdefault((lst.port, lst.proto), None)
    return list(seen)


def _answering(listeners: Iterable[Listener], port: int, proto: str, address: str) -> Listener | None:
    """The listener that accepts a dial of address:port, if any (:: is dual-stack)."""
    return next((x for x in listeners if x.port == port and x.proto == proto and answers(x.address, address)), None)


# -- rule 1 and 5: each vantage's own loopback ------------------------------
def _loopback_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    host_published = {(p.host_port, p.proto) for p in state.published}
    for vantage in _rows(lab, state):
        namespace = state.namespace_of(vantage)
        here = _listeners_in(lab, state, namespace)
        for port, proto in _ports(lab):
            if namespace == HOST and (port, proto) in host_published:
                continue  # the host:P column probes the same socket
            for address in (LOOPBACK_V4, LOOPBACK_V6):
                yield _loopback_cell(vantage, namespace, here, lab.listeners, state, address, port, proto)
            if any(lst.port == port and lst.proto == proto for lst in here):
                cell = _localhost_cell(vantage, namespace, here, lab.listeners, state, port, proto)
                if cell is not None:
                    yield cell


def _loopback_cell(
    vantage: str,
    namespace: str,
    here: list[Listener],
    everywhere: tuple[Listener, ...],
    state: LabState,
    address: str,
    port: int,
    proto: str,
) -> PlannedCell:
    target = host_port(address, port)
    if address == LOOPBACK_V6 and not state.ipv6_loopback.get(namespace, False):
        return PlannedCell(
            vantage,
            target,
            proto,
            "loopback",
            address,
            port,
            "unreachable",
            frozenset({"unreachable"}),
            "IPv6 is disabled in this namespace (lo has no ::1)",
        )
    lst = _answering(here, port, proto, address)
    if lst is not None:
        return PlannedCell(
            vantage,
            target,
            proto,
            "loopback",
            address,
            port,
            "open",
            frozenset({"open"}),
            f"rule 1: {lst.service} listens on {host_port(lst.address, port)} in this namespace",
        )
    owners = sorted({x.service for x in everywhere if x.port == port and x.proto == proto and x not in here})
    why = "nothing in this namespace listens there"
    if owners:
        why = f"rule 1: the listener on {port} is in {', '.join(owners)}'s namespace, not this one"
    return PlannedCell(vantage, target, proto, "loopback", address, port, "closed", frozenset({"closed"}), why)


def _localhost_cell(
    vantage: str,
    namespace: str,
    here: list[Listener],
    everywhere: tuple[Listener, ...],
    state: LabState,
    port: int,
    proto: str,
) -> PlannedCell | None:
    """`localhost:P` as a plain client dials it: the first address getaddrinfo hands out."""
    order = state.localhost.get(namespace) or []
    if not order:
        return None
    cell = _loopback_cell(vantage, namespace, here, everywhere, state, order[0], port, proto)
    return replace(
        cell,
        target=f"localhost:{port}",
        reason=f"localhost resolves to {', '.join(order)} here (first is dialled); {cell.reason}",
    )


# -- rules 2 and 6: across lab networks ---------------------------------------
def _network_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    owners = [s.name for s in lab.services if state.namespace_of(s.name) == s.name and state.members[s.name].addresses]
    for owner in owners:
        listeners = _listeners_in(lab, state, owner)
        ports = list(dict.fromkeys((lst.port, lst.proto) for lst in listeners))
        for vantage in _rows(lab, state):
            for port, proto in ports:
                yield _network_cell(vantage, owner, listeners, state, port, proto, f"{owner}:{port}")


def _network_cell(
    vantage: str,
    owner: str,
    listeners: list[Listener],
    state: LabState,
    port: int,
    proto: str,
    target: str,
    target_kind: TargetKind = "network",
) -> PlannedCell:
    namespace = state.namespace_of(vantage)
    owner_nets = state.members[owner].addresses
    if namespace == HOST:
        net = next(iter(owner_nets))
        via = f"the host reaches {net} through its bridge gateway"
    elif namespace == owner:
        net = next(iter(owner_nets))
        via = "its own address"
    else:
        mine = state.members[namespace].addresses
        shared = [n for n in owner_nets if n in mine]
        if not shared:
            return unresolved_cell(vantage, owner, state, port, proto, target, target_kind)
        net = shared[0]
        via = f"shares network {net}"
    address = owner_nets[net]
    lst = _answering(listeners, port, proto, address)
    if lst is not None and lst.discovered and namespace != owner:
        return PlannedCell(
            vantage,
            target,
            proto,
            target_kind,
            address,
            port,
            "closed",
            NOT_OPEN,
            f"{owner} has an undeclared listener on {host_port(lst.address, port)}"
            f" ({lst.process or 'process unknown'}); the lab does not declare it, so only "
            f"{owner}'s own namespace should reach it",
        )
    if lst is not None:
        return PlannedCell(
            vantage,
            target,
            proto,
            target_kind,
            address,
            port,
            "open",
            frozenset({"open"}),
            f"rule 2: {via}; {lst.service} listens on {host_port(lst.address, port)}",
        )
    bound = [x for x in listeners if x.port == port and x.proto == proto]
    why = (
        f"rule 1: {bound[0].service} listens on {host_port(bound[0].address, port)} only"
        if bound
        else f"nothing listens on {port}/{proto} there"
    )
    return PlannedCell(vantage, target, proto, target_kind, address, port, "closed", frozenset({"closed"}), why)


# -- rules 3 and 4: ports published on the host -------------------------------
def _published_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    seen: set[tuple[str, int, str]] = set()
    for pub in state.published:
        key = (pub.service, pub.host_port, pub.proto)
        if key in seen:
            continue
        seen.add(key)
        target = f"host:{pub.host_port}"
        behind, why_behind = _behind_publish(lab, state, pub)
        accepted_behind = frozenset({behind}) if behind == "open" else frozenset({behind, "closed"})
        if pub.host_ip in (ANY_V4, ANY_V6, LOOPBACK_V4, LOOPBACK_V6, ""):
            address = LOOPBACK_V6 if pub.host_ip == LOOPBACK_V6 else LOOPBACK_V4
            yield PlannedCell(
                HOST,
                target,
                pub.proto,
                "published",
                address,
                pub.host_port,
                behind,
                accepted_behind,
                f"rule 3: {why_behind}",
            )
        if OUTSIDE not in state.members:
            continue
        gateway = state.networks[OUTSIDE].gateway
        if pub.host_ip in (ANY_V4, ANY_V6, ""):
            yield PlannedCell(
                OUTSIDE,
                target,
                pub.proto,
                "published",
                gateway,
                pub.host_port,
                behind,
                accepted_behind,
                f"rule 4: published on all interfaces; {why_behind}",
            )
        else:
            yield PlannedCell(
                OUTSIDE,
                target,
                pub.proto,
                "published",
                gateway,
                pub.host_port,
                "closed",
                frozenset({"closed", "filtered", "unreachable"}),
                f"rule 3: published on {pub.host_ip} only; never open from outside (engines before 28.0 leaked this)",
            )


def _behind_publish(lab: Lab, state: LabState, pub: Published) -> tuple[str, str]:
    """What a connection forwarded to the container side of `pub` meets."""
    listeners = [
        x
        for x in _listeners_in(lab, state, state.namespace_of(pub.service))
        if x.port == pub.container_port and x.proto == pub.proto
    ]
    open_ = [x for x in listeners if not x.is_loopback]
    if open_:
        return "open", f"{pub.service} listens on {host_port(open_[0].address, pub.container_port)} behind it"
    if pub.proto == "udp":
        return "open|filtered", f"nothing answers on {pub.service}'s {pub.container_port}/udp"
    if listeners:
        return "reset", (
            f"{pub.service} listens on {host_port(listeners[0].address, pub.container_port)} (its own "
            "loopback), so the proxy accepts and then resets"
        )
    return "reset", f"nothing declared listens on {pub.service}'s port {pub.container_port}; the proxy resets"


# -- ping: every vantage to every service with an address ------------------------
def _icmp_cells(lab: Lab, state: LabState) -> Iterable[PlannedCell]:
    owners = [s.name for s in lab.services if state.namespace_of(s.name) == s.name and state.members[s.name].addresses]
    for vantage in _rows(lab, state):
        namespace = state.namespace_of(vantage)
        for owner in owners:
            nets = state.members[owner].addresses
            mine = (
                list(nets)
                if namespace in (HOST, owner)
                else [n for n in nets if n in state.members[namespace].addresses]
            )
            if mine:
                yield PlannedCell(
                    vantage,
                    owner,
                    "icmp",
                    "network",
                    nets[mine[0]],
                    0,
                    "open",
                    frozenset({"open"}),
                    f"rule 2: echo over {mine[0]}" if namespace != owner else "its own address",
                )
            else:
                yield PlannedCell(
                    vantage,
                    owner,
                    "icmp",
                    "network",
                    next(iter(nets.values())),
                    0,
                    "filtered",
                    NOT_REACHABLE,
                    isolation_reason(state, namespace, owner),
                )


# -- rule 7: firewall rules declared in the lab ----------------------------------
def _apply_firewall(cells: list[PlannedCell], lab: Lab, state: LabState) -> list[PlannedCell]:
    if not lab.firewall:
        return cells
    out = []
    for cell in cells:
        rule = None
        if cell.target_ns is not None and cell.expected in ("open", "closed"):
            rule = _matching_rule(lab, state, cell, state.namespace_of(cell.vantage), cell.target_ns)
        if rule is None:
            out.append(cell)
            continue
        new = "filtered" if rule.action == "drop" else "closed"
        out.append(
            replace(
                cell,
                expected=new,
                accepted=frozenset({new}),
                reason=f"rule 7: {rule.action} in {rule.service}'s {rule.chain} "
                f"({' '.join(rule.iptables_args())}), declared at {rule.location}",
            )
        )
    return out


def target_namespace(vantage: str, target: str, target_kind: str, state: LabState) -> str | None:
    """The namespace whose sockets answer a cell; None for published ports (the host's proxy)."""
    name = target.rpartition(":")[0]
    if target_kind == "published" or name == "host":
        return None
    if name in ("127.0.0.1", "[::1]", "localhost"):
        return state.namespace_of(vantage)
    return state.namespace_of(name) if name in state.members else None


def _matching_rule(lab: Lab, state: LabState, cell: PlannedCell, vantage_ns: str, target_ns: str):
    local = vantage_ns == target_ns  # traffic inside one namespace goes through lo
    for rule in lab.firewall:
        if rule.proto != cell.proto or rule.port != cell.port:
            continue
        here = state.namespace_of(rule.service)
        if (rule.chain == "INPUT" and here != target_ns) or (rule.chain == "OUTPUT" and here != vantage_ns):
            continue
        if rule.interface is None or (rule.interface == "lo") == local:
            return rule
    return None


# -- explicit expectations ------------------------------------------------------
def _apply_expectations(cells: list[PlannedCell], lab: Lab, state: LabState) -> list[PlannedCell]:
    index = {(c.vantage, c.target, c.proto): i for i, c in enumerate(cells)}
    out = list(cells)
    for exp in lab.expectations:
        if not _made(state, exp.vantage):
            continue  # an observer that this run has not started, or a neighbour not asked for
        why = f"expect at {exp.location}" if exp.location else "expect"
        exp = replace(exp, target=published_target(exp.target, exp.proto, state))
        key = (exp.vantage, exp.target, exp.proto)
        if key in index:
            i = index[key]
            derived = out[i]
            expected, accepted = expected_by(exp, derived.accepted)
            if accepted & derived.accepted:  # the model agrees with the entry
                reason = f"{derived.reason}; pinned by {why}"
            else:
                reason = f"{why} (the model alone says {derived.expected}: {derived.reason})"
            out[i] = replace(derived, expected=expected, accepted=accepted, reason=reason)
        else:
            cell = cell_for_target(exp.vantage, exp.target, exp.proto, lab, state)
            expected, accepted = expected_by(exp, cell.accepted)
            index[key] = len(out)
            out.append(replace(cell, expected=expected, accepted=accepted, reason=why))
    return out


def published_target(target: str, proto: str, state: LabState) -> str:
    """`host:SERVICE:P` as the cell it names, `host:H` (H: the host port SERVICE's container port P is
    published on, which the engine may have picked); any other target unchanged."""
    head, _, port = target.rpartition(":")
    if not head.startswith("host:"):
        return target
    service = head[5:]
    for pub in state.published:
        if pub.service == service and pub.container_port == int(port) and pub.proto == proto:
            return f"host:{pub.host_port}"
    raise LooplabError(f"target {target!r}: {service} publishes no container port {port}/{proto} on the host")


def cell_for_target(vantage: str, target: str, proto: str, lab: Lab, state: LabState) -> PlannedCell:
    """Resolve `target` as dialled from `vantage`; the model's expectation where it has one
    (an empty `accepted` means the model says nothing about this cell)."""
    return _located([_cell_for_target(vantage, target, proto, lab, state)], lab, state)[0]


def _cell_for_target(vantage: str, target: str, proto: str, lab: Lab, state: LabState) -> PlannedCell:
    if vantage == NEIGHBOUR:
        return neighbour_cell_for(target, proto, lab, state)
    name, _, port_text = target.rpartition(":")
    port = int(port_text)
    namespace = state.namespace_of(vantage)
    if name in ("127.0.0.1", "[::1]"):
        here = _listeners_in(lab, state, namespace)
        cell = _loopback_cell(vantage, namespace, here, lab.listeners, state, name.strip("[]"), port, proto)
        return replace(cell, target=target, target_kind="explicit")
    if name == "localhost":
        here = _listeners_in(lab, state, namespace)
        cell = _localhost_cell(vantage, namespace, here, lab.listeners, state, port, proto)
        if cell is None:
            return PlannedCell(
                vantage,
                target,
                proto,
                "explicit",
                LOOPBACK_V4,
                port,
                "unreachable",
                frozenset({"unreachable"}),
                "localhost is not in this namespace's /etc/hosts",
            )
        return replace(cell, target_kind="explicit")
    if name == "host":
        return PlannedCell(
            vantage, target, proto, "explicit", _host_address(state, namespace), port, "", frozenset(), ""
        )
    owner = state.namespace_of(name)
    if owner == HOST:
        address = _host_address(state, namespace)
        return PlannedCell(vantage, target, proto, "explicit", address, port, "", frozenset(), "")
    return _network_cell(vantage, owner, _listeners_in(lab, state, owner), state, port, proto, target, "explicit")


def lookup(planned: Iterable[PlannedCell], vantage: str, target: str, proto: str) -> PlannedCell | None:
    return next((c for c in planned if (c.vantage, c.target, c.proto) == (vantage, target, proto)), None)


def _host_address(state: LabState, namespace: str) -> str:
    """How a namespace dials the host: its loopback if it is the host, else its first gateway."""
    if namespace == HOST:
        return LOOPBACK_V4
    nets = list(state.members[namespace].addresses)
    if not nets:
        return LOOPBACK_V4
    return state.networks[nets[0]].gateway
