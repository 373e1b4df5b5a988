"""Why a cell is what it is: pure rules over facts gathered from the namespaces.

Each rule looks at one cause and returns a Diagnosis (cause, what was found, a fix) or None;
the first rule that recognises the cell wins. Facts are collected by finder.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..addresses import answers, host_port, owner_text
from ..domain import Diagnosis
from ..labfile.model import is_loopback
from .bind_failures import in_use
from .facts import Facts


def _sock(s: dict) -> str:
    owner = owner_text(s)
    return f"{s['proto']} {host_port(s['address'], s['port'])}" + (f" ({owner})" if owner else "")


def _on_port(facts: Facts, port: int) -> list[dict]:
    return [s for s in facts.target_sockets if s["port"] == port and s["proto"] == facts.proto]


def firewall_rule(f: Facts) -> Diagnosis | None:
    hits = [
        e for e in f.firewall if (e.dport in (None, f.port)) and (e.proto in (None, f.proto)) and (e.drops or e.rejects)
    ]
    if not hits or f.state not in ("filtered", "closed"):
        return None
    rule = max(hits, key=lambda e: e.packets)
    verb = "drops" if rule.drops else "rejects"
    return Diagnosis(
        "firewall",
        f"a firewall rule {verb} this traffic: {rule.tool} {rule.table}/{rule.chain} `{rule.spec}` "
        f"({rule.packets} packets matched).",
        f"remove the rule, or expect {'filtered' if rule.drops else 'closed'} here if the rule is intended.",
    )


def port_conflict(f: Facts) -> Diagnosis | None:
    lines = [ln for ln in f.bind_errors if f":{f.port}" in ln and in_use(ln)]
    if not lines:
        return None
    holders = _on_port(f, f.port)
    held = f"; the port is held by {_sock(holders[0])}" if holders else ""
    return Diagnosis(
        "port-conflict",
        f"port conflict: a second listener could not bind: {lines[0].strip()}{held}.",
        "give one of the two services another port, or stop the process holding it.",
    )


def proxy_reset(f: Facts) -> Diagnosis | None:
    if f.target_kind != "published" or f.state != "reset":
        return None
    behind = _on_port(f, f.published_to or 0)
    bound = [s for s in behind if is_loopback(s["address"])]
    if bound:
        return Diagnosis(
            "proxy-reset",
            f"the host's proxy accepted and then reset: behind it the service listens on "
            f"{_sock(bound[0])}, its container's own loopback, not eth0.",
            "bind the service to 0.0.0.0 inside the container (publishing stays on 127.0.0.1).",
        )
    return Diagnosis(
        "proxy-reset",
        f"the host's proxy accepted and then reset: nothing listens on container port {f.published_to}.",
        "start the service, or publish the port it really listens on.",
    )


def ipv6_trap(f: Facts) -> Diagnosis | None:
    dialled_v6 = ":" in f.address
    if f.target.startswith("localhost:") and f.localhost_order:
        first = f.localhost_order[0]
        v4_only = [s for s in _on_port(f, f.port) if ":" not in s["address"]]
        if ":" in first and v4_only:
            return Diagnosis(
                "localhost-ipv6",
                f"`localhost` resolves to {', '.join(f.localhost_order)} here, ::1 first, while the "
                f"service listens on {_sock(v4_only[0])} (IPv4 only).",
                "dial 127.0.0.1 explicitly, or make the service listen on [::] too.",
            )
    if dialled_v6 and not f.ipv6_loopback and f.state == "unreachable":
        return Diagnosis(
            "ipv6-disabled",
            "IPv6 is disabled in this namespace (lo has no ::1), as Docker does by "
            "default, though /etc/hosts still maps localhost to ::1.",
            "dial 127.0.0.1, or enable IPv6 (sysctls: net.ipv6.conf.lo.disable_ipv6=0).",
        )
    if dialled_v6 and f.state == "closed":
        v4 = [s for s in _on_port(f, f.port) if ":" not in s["address"]]
        if v4:
            return Diagnosis(
                "ipv6-mismatch",
                f"the service listens on {_sock(v4[0])} (IPv4 only); ::1 is IPv6.",
                "listen on [::] (dual-stack) or dial 127.0.0.1.",
            )
    return None


def bound_to_loopback(f: Facts) -> Diagnosis | None:
    if f.state != "closed" or is_loopback(f.address):
        return None
    bound = [s for s in _on_port(f, f.port) if is_loopback(s["address"])]
    if not bound:
        return None
    return Diagnosis(
        "bound-to-loopback",
        f"a listener exists but is bound to its namespace's loopback: {_sock(bound[0])}; "
        f"{f.address} is not an address it listens on.",
        "bind 0.0.0.0 (or the service's own address) if others should reach it; expect closed if not.",
    )


def nothing_listening(f: Facts) -> Diagnosis | None:
    if f.state != "closed" or f.target_ns is None or _on_port(f, f.port):
        return None
    usable = [s for s in f.target_sockets if s["proto"] == f.proto and answers(s["address"], f.address)]
    others = sorted({s["port"] for s in usable})
    if others:
        near = min(others, key=lambda p: abs(p - f.port))
        sock = next(s for s in usable if s["port"] == near)
        return Diagnosis(
            "wrong-port",
            f"nothing listens on {f.port}/{f.proto} in {f.target_ns}; on {f.address} it "
            f"listens on {', '.join(map(str, others))} — nearest {_sock(sock)}.",
            f"dial {near}, or move the listener to {f.port}.",
        )
    return Diagnosis(
        "nothing-listening",
        f"nothing listens on {f.port}/{f.proto} in {f.target_ns}'s namespace.",
        "start the service (check its logs), or fix the port.",
    )


def no_shared_network(f: Facts) -> Diagnosis | None:
    if f.state not in ("filtered", "unreachable") or f.shared_networks or f.target_kind == "published":
        return None
    if f.target_ns is None or f.target_ns == f.vantage_ns or f.vantage_ns == "host":
        return None
    if f.vantage == "@neighbour":
        return Diagnosis(
            "lan-isolated",
            f"the engine does not forward traffic from the LAN to {f.target_ns}'s address {f.address}: "
            "isolation by design.",
            "publish the port on an address the LAN reaches if it should; expect filtered (or reachable: false) "
            "if not.",
        )
    mine = ", ".join(f.vantage_networks) or "no network"
    theirs = ", ".join(f.target_networks) or "no network"
    return Diagnosis(
        "no-shared-network",
        f"{f.vantage} ({mine}) and {f.target_ns} ({theirs}) share no network: isolation by design.",
        "attach both to one network if they should talk; expect unreachable (or reachable: false) if not.",
    )


def engine_rules_rewritten(f: Facts) -> Diagnosis | None:
    """An exposure that did not repeat, while the engine created or connected another network."""
    if f.verdict != "exposed" or not f.engine_events or not f.observations:
        return None
    if all(o.split(" ", 1)[0] == "open" for o in f.observations):
        return None  # seen on every probe: not a window
    ev = f.engine_events[0]
    when = datetime.fromtimestamp(ev.at, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
    more = f" (and {len(f.engine_events) - 1} more)" if len(f.engine_events) > 1 else ""
    return Diagnosis(
        "engine-rules-rewritten",
        f"the engine rewrote its firewall rules while the matrix was probed: network {ev.network} "
        f"{ev.action} at {when} UTC{more}, from its event stream; the probes saw {'; then '.join(f.observations)}. "
        "On Docker before 28 every bridge network created rewrites the isolation chains, and for a few "
        "milliseconds traffic crosses bridges.",
        "treat it as a real leak window: do not create networks on this engine while it serves isolated "
        "traffic, or use an engine (Docker >= 28) that does not open it.",
    )


def routed_leak(f: Facts) -> Diagnosis | None:
    """Open across networks that share nothing: a member on both can forward between them."""
    if f.verdict != "exposed" or f.shared_networks or not f.forwarders:
        return None
    member, near, far = f.forwarders[0]
    others = f" (also {', '.join(m for m, _, _ in f.forwarders[1:])})" if len(f.forwarders) > 1 else ""
    return Diagnosis(
        "routed-leak",
        f"{f.vantage} shares no network with {f.target_ns}, yet reached {host_port(f.address, f.port)}: "
        f"{member} is on both {near} and {far}{others} and can forward between them, so the path is "
        f"{f.vantage} → {member} → {f.target_ns}.",
        f"turn forwarding off in {member} (net.ipv4.ip_forward=0), drop the route through it, or bind the "
        f"service to the address its clients use.",
    )


_LAN_FIXES = (
    "bind the service inside its container to the address you mean (127.0.0.1 when only its own namespace "
    "should reach it); or use Docker >= 28, which filters direct routing from other interfaces by default; "
    "or add a DOCKER-USER drop rule for traffic from the LAN interface (LAN_IF), e.g. `{rule}`."
)


def neighbour_leak(f: Facts) -> Diagnosis | None:
    """The LAN neighbour reached what only the host (or the container itself) should: the engine routes."""
    if f.verdict != "exposed" or f.vantage != "@neighbour":
        return None
    engine = f"Docker {f.engine_version}" if f.engine_version else "this engine"
    older = " (before 28)" if 0 < f.engine_major < 28 else ""
    if f.target_kind == "published" and f.address == "127.0.0.1":
        return Diagnosis(
            "localhost-dnat",
            f"a LAN neighbour that sends 127.0.0.1:{f.port} to this host reached the port published on the "
            f"host's 127.0.0.1 only: {engine}{older} DNATs packets for 127.0.0.1:{f.port} arriving on any "
            "interface to the container (moby#45610); the answer comes back from 127.0.0.1, which a neighbour "
            "accepts once it allows it on its interface (route_localnet=1, as @neighbour does).",
            _LAN_FIXES.format(rule="iptables -I DOCKER-USER -i LAN_IF -m conntrack --ctorigdst 127.0.0.0/8 -j DROP"),
        )
    published = (
        f" It is published on {', '.join(f.published_on)} only, and {engine} accepts forwarded traffic to a "
        "published container port whatever host address it is published on."
        if f.published_on
        else ""
    )
    return Diagnosis(
        "direct-routing",
        f"a LAN neighbour that routes the lab's subnets via this host reached {host_port(f.address, f.port)}, "
        f"the container's own address: direct routing to container addresses on {engine}{older} "
        f"(moby#48724).{published}",
        _LAN_FIXES.format(
            rule=f"iptables -I DOCKER-USER -i LAN_IF -d {f.address} -p {f.proto} --dport {f.port} "
            f"-m conntrack --ctorigdst {f.address} -j DROP"
        ),
    )


def exposed(f: Facts) -> Diagnosis | None:
    if f.verdict != "exposed":
        return None
    listening = [s for s in _on_port(f, f.port) if not is_loopback(s["address"])]
    who = _sock(listening[0]) if listening else f"port {f.port}"
    via = f" via {', '.join(f.shared_networks)}" if f.shared_networks else ""
    if f.discovered:
        return Diagnosis(
            "undeclared-listener",
            f"an undeclared listener {who} is reachable from {f.vantage}{via}.",
            "bind it to 127.0.0.1 if it is a debug port, or declare it in x-looplab.listeners.",
        )
    return Diagnosis(
        "exposed",
        f"{who} is reachable from {f.vantage}{via}, which the lab says must not reach it.",
        "bind the service to loopback, move it off the shared network, or correct the expectation.",
    )


KERNEL_LIMIT_FIX = {
    "neighbour-table-full": "the host's neighbour table is too small for this many namespaces talking at once: "
    "raise net.ipv4.neigh.default.gc_thresh3 (and gc_thresh2; ipv6 likewise) on the host, or probe a smaller lab.",
    "icmp-ratelimit": "probe fewer closed UDP ports of one target at once, or raise net.ipv4.icmp_ratelimit's "
    "allowance in the target's namespace (0 disables it) if that is yours to change.",
}


def kernel_limit(f: Facts) -> Diagnosis | None:
    """The observation may have been forged by a kernel limit of the host, not by the lab."""
    if not f.suspect:
        return None
    cause, _, why = f.suspect.partition(": ")
    return Diagnosis(
        cause,
        f"{f.state} is not judged: {why}. Probed again, it stayed suspect ({'; '.join(f.observations)}).",
        KERNEL_LIMIT_FIX.get(cause, "probe again once the host is quieter."),
    )


def probe_error(f: Facts) -> Diagnosis | None:
    if f.state != "error":
        return None
    return Diagnosis(
        "probe-error",
        f"the probe could not run: {f.detail or 'no detail'}.",
        "check that the vantage's container is running and the launcher can enter it.",
    )


RULES: tuple[Callable[[Facts], Diagnosis | None], ...] = (
    kernel_limit,
    probe_error,
    neighbour_leak,
    engine_rules_rewritten,
    firewall_rule,
    port_conflict,
    proxy_reset,
    ipv6_trap,
    routed_leak,
    exposed,
    bound_to_loopback,
    nothing_listening,
    no_shared_network,
)


def diagnose(facts: Facts) -> Diagnosis | None:
    for rule in RULES:
        found = rule(facts)
        if found is not None:
            return found
    return None
