"""The audit's rules: from a probed matrix and the containers as read, the findings (pure logic).

Each rule reads observed cells, never the Compose file alone: a 0.0.0.0 publish is `exposed`
because `@outside` got `open` (or, with `--no-observers`, because nobody could look). A cell the
matrix did not end as Docker's rules say, which no rule explains, is a finding of its own: an
audit never passes over something it saw (docs/ARCHITECTURE.md, "audit").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from ..domain import Cell, Engine
from ..labfile.model import Lab, Listener, is_loopback
from ..runtime.foreign import ForeignContainer, ForeignPublish
from .model import Finding

OUTSIDE, NEIGHBOUR = "@outside", "@neighbour"
Add = Callable[[Finding, Iterable[Cell]], None]  # record a finding and the cells it explains
Listening = dict[tuple[str, int, str], list[Listener]]  # (member, port, proto) -> its sockets
ALL_INTERFACES = ("0.0.0.0", "::", "")


def evidence(cell: Cell) -> str:
    """A cell as the evidence line shows it: `@outside -> host:28080/tcp: open (detail)`."""
    text = f"{cell.vantage} -> {cell.target}/{cell.proto}: {cell.state}"
    return f"{text} ({cell.detail})" if cell.detail else text


def find(
    containers: Iterable[ForeignContainer],
    lab: Lab,
    cells: Iterable[Cell],
    *,
    observers: bool,
    engine: Engine | None = None,
) -> list[Finding]:
    """Every finding of one audit, most severe first; each failing cell is explained by one."""
    members = {c.member: c for c in containers}
    cells = list(cells)
    listening: Listening = defaultdict(list)
    for lst in lab.listeners:
        listening[(lst.service, lst.port, lst.proto)].append(lst)
    found: list[Finding] = []
    covered: set[int] = set()

    def add(finding: Finding, shown: Iterable[Cell]) -> None:
        found.append(finding)
        covered.update(id(c) for c in shown)

    for c in members.values():
        for p in c.published:
            _published(c, p, cells, listening, observers, outside_blind(engine), add)
    _listeners(members, listening, cells, add)
    behind = {(p.host_port, p.proto): c.member for c in members.values() for p in c.published}
    _neighbour([x for x in cells if id(x) not in covered], behind, add)
    _firewall(cells, behind, add)
    _the_rest([x for x in cells if id(x) not in covered], behind, add)
    order = {"broken": 0, "exposed": 1, "info": 2}
    return sorted(found, key=lambda f: (order[f.level], f.service, f.target, f.kind))


def _published(
    c: ForeignContainer,
    p: ForeignPublish,
    cells: list[Cell],
    listening: Listening,
    observers: bool,
    blind: str | None,
    add: Add,
) -> None:
    target = f"host:{p.host_port}/{p.proto}"
    mine = [x for x in cells if x.target_kind == "published" and x.port == p.host_port and x.proto == p.proto]
    outside = [x for x in mine if x.vantage in (OUTSIDE, NEIGHBOUR)]
    if p.host_ip in ALL_INTERFACES:
        reached = [x for x in outside if x.state == "open"]
        looked = bool(outside)
        if reached or not looked or blind:
            bound = f"published on {p.host_ip or '0.0.0.0'}:{p.host_port}"
            if reached:
                seen = tuple(evidence(x) for x in reached)
            elif not looked:
                why = "--no-observers" if not observers else "no @outside cell"
                seen = (f"{bound} (not probed from outside: {why})",)
            else:
                seen = (*(evidence(x) for x in outside), f"{bound}; @outside did not reach it, but {blind}")
            add(
                Finding(
                    "published-all-interfaces",
                    "exposed",
                    c.member,
                    target,
                    f"{c.member}:{p.container_port}/{p.proto} is published on every interface of the host as "
                    f"port {p.host_port}: anyone who reaches the host reaches it",
                    seen,
                    f'publish it on 127.0.0.1 only (ports: "127.0.0.1:{p.host_port}:{p.container_port}"), or not '
                    "at all if only other containers use it",
                ),
                reached,
            )
        else:
            add(
                Finding(
                    "published-all-interfaces",
                    "info",
                    c.member,
                    target,
                    f"{c.member}:{p.container_port}/{p.proto} is published on every interface, yet @outside "
                    "did not reach it",
                    tuple(evidence(x) for x in outside),
                    "if nobody outside this host should use it, publish it on 127.0.0.1 only",
                ),
                outside,
            )
    resets = [x for x in mine if x.vantage == "host" and x.state == "reset"]
    if not resets:
        return
    addresses = [lst.address for lst in listening.get((c.member, p.container_port, p.proto), [])]
    if addresses and all(is_loopback(a) for a in addresses):
        kind, why = "publish-to-loopback", f"{c.member} listens on {', '.join(addresses)}:{p.container_port} only"
        fix = f"bind the app to 0.0.0.0:{p.container_port} inside the container: a publish arrives on its eth0"
    else:
        kind, why = "publish-without-listener", f"nothing listens on {p.container_port}/{p.proto} in {c.member}"
        fix = f"start the listener on 0.0.0.0:{p.container_port}, or drop the publish"
    add(
        Finding(
            kind,
            "broken",
            c.member,
            target,
            f"port {p.host_port} is published to {c.member}:{p.container_port}, but connections are reset",
            (*(evidence(x) for x in resets), why),
            fix,
        ),
        resets,
    )


def _listeners(members: dict[str, ForeignContainer], listening: Listening, cells: list[Cell], add: Add) -> None:
    for (service, port, proto), listeners in sorted(listening.items()):
        owner = members.get(service)
        if owner is None or all(lst.is_loopback for lst in listeners):
            continue
        reached = [
            x
            for x in cells
            if x.target_kind == "network"
            and x.target.rsplit(":", 1)[0] == service
            and (x.port, x.proto) == (port, proto)
            and x.state == "open"
            and x.vantage not in (service, "host")
        ]
        if not reached:
            continue
        process = next((lst.process for lst in listeners if lst.process), None)
        target = f"{service}:{port}/{proto}"
        where = ", ".join(sorted({lst.address for lst in listeners}))
        if (port, proto) not in owner.declared_ports:
            add(
                Finding(
                    "undeclared-listener",
                    "exposed",
                    service,
                    target,
                    f"{service} listens on {where}:{port}/{proto}, which it neither exposes nor publishes, "
                    "and others reach it",
                    (
                        *(evidence(x) for x in reached),
                        f"socket: {where}:{port}/{proto}" + (f", {process}" if process else ""),
                    ),
                    f"if nobody should use it (a debug port), bind it to 127.0.0.1 or turn it off; if it is "
                    f'meant to be used, declare it (expose: ["{port}"])',
                ),
                reached,
            )
            continue
        peers = sorted({x.vantage for x in reached if x.vantage in members})
        unneeded = [p for p in peers if members[p].needs is None or service not in members[p].needs]
        if unneeded:
            known = all(members[p].needs is not None for p in unneeded)
            add(
                Finding(
                    "reachable-by-peers",
                    "info",
                    service,
                    target,
                    f"{target} is open to {', '.join(unneeded)}, which "
                    + (
                        "do not depend on or link to " + service
                        if known
                        else "declare no dependency that looplab can read"
                    ),
                    tuple(evidence(x) for x in reached if x.vantage in unneeded),
                    f"put {service} and only the services that use it on a network of their own",
                ),
                (),
            )


def outside_blind(engine: Engine | None) -> str | None:
    """Why `@outside` not reaching a port published on every interface proves nothing here; None
    where it stands for the host's other interfaces (a local rootful engine)."""
    if engine is None:
        return "the engine is unknown"
    if engine.rootless:
        return (
            "on a rootless engine containers reach RootlessKit's namespace, while its port driver "
            "listens on every interface of the host"
        )
    if engine.desktop or engine.local is False:
        return "the engine runs on another machine (Docker Desktop or remote), whose interfaces @outside does not see"
    return None


def owner(cell: Cell, behind: dict[tuple[int, str], str]) -> str:
    """The member whose listener a cell dials: named in the target, behind a published port, or
    (a loopback address) the vantage's own."""
    if cell.target_kind == "published":
        return behind.get((cell.port, cell.proto), "host")
    if cell.target_kind == "loopback":
        return cell.vantage
    return cell.target.rsplit(":", 1)[0]


_LAN_FIX = (
    "bind the service to 127.0.0.1 if only its own namespace needs it; use Docker >= 28, which drops "
    "traffic from other interfaces to container addresses; or add a DOCKER-USER rule that drops what "
    "arrives from the LAN interface for the bridges"
)


def _neighbour(cells: list[Cell], behind: dict[tuple[int, str], str], add: Add) -> None:
    by_target: dict[str, list[Cell]] = defaultdict(list)
    for x in cells:
        if x.vantage == NEIGHBOUR and x.state == "open":
            by_target[f"{x.target}/{x.proto}"].append(x)
    for target, seen in sorted(by_target.items()):
        service = owner(seen[0], behind)
        add(
            Finding(
                "lan-exposure",
                "exposed",
                service,
                target,
                f"a machine on the host's LAN (@neighbour) reaches {target}"
                + (
                    ""
                    if seen[0].target_kind == "published"
                    else f" at the container's own address {seen[0].address} (the host routes to its bridges)"
                ),
                tuple(evidence(x) for x in seen) + tuple(f"diagnosis: {x.diagnosis}" for x in seen[:1] if x.diagnosis),
                seen[0].diagnosis.fix if seen[0].diagnosis else _LAN_FIX,
            ),
            seen,
        )


def _firewall(cells: list[Cell], behind: dict[tuple[int, str], str], add: Add) -> None:
    by_target: dict[tuple[str, int, str, str], list[Cell]] = defaultdict(list)
    for x in cells:
        if x.cause == "firewall":
            by_target[(owner(x, behind), x.port, x.proto, x.state)].append(x)
    for (service, port, proto, state), seen in sorted(by_target.items()):
        diagnosis = seen[0].diagnosis
        assert diagnosis is not None
        kind = "firewall-drop" if state == "filtered" else "firewall-reject"
        add(
            Finding(
                kind,
                "info",
                service,
                f"{service}:{port}/{proto}",
                f"a firewall rule {'drops' if state == 'filtered' else 'rejects'} {port}/{proto} of {service} "
                f"from {', '.join(sorted({x.vantage for x in seen}))}",
                (*(evidence(x) for x in seen), f"rule: {diagnosis.found}"),
                diagnosis.fix,
            ),
            seen,
        )


def _the_rest(cells: list[Cell], behind: dict[tuple[int, str], str], add: Add) -> None:
    """Cells that did not end as Docker's rules say, which no rule above explains."""
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for x in cells:
        if x.verdict != "pass":
            groups[(x.target, x.proto, x.state, x.expected, x.verdict, x.cause)].append(x)
    for (target, proto, state, expected, verdict, cause), seen in sorted(groups.items(), key=lambda kv: str(kv[0])):
        level = "exposed" if verdict == "exposed" else "info" if verdict == "flaky" else "broken"
        diagnosis = seen[0].diagnosis
        where = ", ".join(sorted({x.vantage for x in seen}))
        title = (
            f"{target}/{proto} was {state} once, then {expected}, from {where}"
            if verdict == "flaky"
            else f"{target}/{proto} is {state} from {where}; Docker's rules give {expected}"
        )
        notes = [evidence(x) for x in seen] + [o for x in seen[:1] for o in x.observations]
        if diagnosis is not None:
            notes.append(f"diagnosis ({diagnosis.cause}): {diagnosis.found}")
        add(
            Finding(
                "flaky" if verdict == "flaky" else cause or "unexplained",
                level,
                owner(seen[0], behind),
                f"{target}/{proto}",
                title,
                tuple(notes),
                diagnosis.fix if diagnosis else f"reproduce: {seen[0].reproduce}" if seen[0].reproduce else "",
            ),
            seen,
        )
