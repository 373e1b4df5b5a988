"""The launcher contract: everything looplab does inside a network namespace goes through it.

A launcher runs batches of agent probes (every kind: tcp, udp, icmp, http, resolve, scan),
reads socket inventories (readiness, `sockets`, discovery, diagnosis), and adds or reads
firewall rules. One module per strategy implements it; nothing branches on a launcher's
name. See docs/ARCHITECTURE.md ("Adding a launcher").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...errors import ProbeError
from ...runtime.state import Netns
from ..protocol import ProbeResult, ProbeSpec


@dataclass(frozen=True)
class Batch:
    """Probes to run from one vantage, in the namespace `netns`."""

    vantage: str
    netns: Netns
    probes: list[ProbeSpec] = field(default_factory=list)


@dataclass(frozen=True)
class VantageOutcome:
    """One vantage's results in request order, or `error` when it could not be entered."""

    vantage: str
    error: str | None
    results: list[ProbeResult]


@dataclass(frozen=True)
class Inventory:
    """What one namespace holds: its listening sockets, whether lo has ::1, and `localhost`
    as its /etc/hosts lists it (in file order)."""

    sockets: list[dict]
    ipv6_loopback: bool
    localhost: list[str]


@dataclass(frozen=True)
class FirewallText:
    """A namespace's rules as the tools print them (empty where a tool is missing)."""

    iptables_save: str  # `iptables-save -c`
    nft_ruleset: str  # `nft list ruleset`


NAMED_NETNS_REFUSAL = "the LAN neighbour's namespace is entered only by the setns launcher (root, next to the engine)"


class Launcher(Protocol):
    name: str
    enters_named: bool  # can enter a named namespace no process owns (`Netns.path`: the LAN neighbour)

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        """Run every batch, vantages in parallel; never longer than `deadline_s`. Keys are vantage
        ids. A vantage that cannot be entered gets an outcome with `error`, not an exception."""
        ...

    def inventory(self, namespaces: Sequence[Netns], *, owners: bool) -> dict[str, Inventory]:
        """Read each namespace's inventory, keyed by `Netns.owner`; one that cannot be read this
        time is left out. `owners` asks for the owning pid and command of each socket."""
        ...

    def add_firewall_rule(self, netns: Netns, iptables_args: list[str]) -> None:
        """Append one iptables rule inside `netns`; `LooplabError` with the tool's reason if refused."""
        ...

    def read_firewall(self, netns: Netns) -> FirewallText:
        """The namespace's rules with their packet counters."""
        ...

    def close(self, *, teardown_follows: bool = False) -> None:
        """Remove whatever the launcher started (helper containers); safe to call twice. When the
        lab's teardown follows, helpers are left to it (they carry the run's labels): one wave
        of removals instead of two; their agents are ended either way."""
        ...


def split_named(batches: Sequence[Batch]) -> tuple[list[Batch], dict[str, VantageOutcome]]:
    """For a launcher that enters namespaces by pid or container only: the batches it can run, and
    an error outcome for each bound for a named namespace (never taken for the host's)."""
    named = {b.vantage: VantageOutcome(b.vantage, NAMED_NETNS_REFUSAL, []) for b in batches if b.netns.path}
    return [b for b in batches if not b.netns.path], named


def to_request(batches: Sequence[Batch], netns: dict[str, str | None]) -> dict:
    """The agent's JSON request for these batches (`netns`: the path each vantage enters)."""
    return {
        "vantages": [
            {"id": b.vantage, "netns": netns[b.vantage], "probes": [p.to_wire() for p in b.probes]} for b in batches
        ]
    }


def from_response(response: dict) -> dict[str, VantageOutcome]:
    """The agent's JSON response as typed outcomes, keyed by vantage id."""
    return {
        v["id"]: VantageOutcome(v["id"], v.get("error"), [ProbeResult.from_wire(r) for r in v.get("results") or []])
        for v in response.get("vantages", [])
    }


def inventory_via_agent(
    launcher: Launcher, namespaces: Sequence[Netns], *, deadline_s: float = 30.0
) -> dict[str, Inventory]:
    """`Launcher.inventory` for launchers that cannot read /proc here: ask the agent in each namespace
    for its socket table and its /etc/hosts `localhost` (the same facts, the same shape)."""
    batches = [Batch(ns.owner, ns, _inventory_probes(ns)) for ns in namespaces]
    read: dict[str, Inventory] = {}
    for owner, outcome in launcher.run(batches, deadline_s=deadline_s).items():
        if outcome.error or len(outcome.results) < 2 or not outcome.results[0].ok:
            continue
        sockets, localhost = outcome.results[0].extra, outcome.results[1].extra
        read[owner] = Inventory(
            list(sockets.get("sockets") or []),
            bool(sockets.get("ipv6_loopback")),
            list(localhost.get("addresses") or []),
        )
    return read


def _inventory_probes(netns: Netns) -> list[ProbeSpec]:
    root = f"/proc/{netns.pid}/root" if netns.pid else "/"
    return [
        ProbeSpec("inventory", "sockets"),
        ProbeSpec("localhost", "resolve", name="localhost", root=root),
    ]


def firewall_via_agent(launcher: Launcher, netns: Netns, argv: tuple[str, ...]) -> ProbeResult:
    """Run iptables or iptables-save inside `netns` through the agent (its `iptables` kind), for
    launchers whose agent runs in a container; `ProbeError` when the namespace cannot be entered."""
    outcome = launcher.run([Batch(netns.owner, netns, [ProbeSpec("firewall", "iptables", argv=argv)])], deadline_s=60.0)
    got = outcome.get(netns.owner)
    if got is None or got.error or not got.results:
        raise ProbeError(f"cannot reach {netns.owner}'s namespace: {got.error if got else 'no answer'}")
    return got.results[0]


def add_rule_via_agent(launcher: Launcher, netns: Netns, iptables_args: list[str]) -> None:
    result = firewall_via_agent(launcher, netns, ("iptables", "-w", "-A", *iptables_args))
    if not result.ok:
        raise ProbeError(f"cannot add a firewall rule in {netns.owner}'s namespace: {result.detail}")


def read_rules_via_agent(launcher: Launcher, netns: Netns) -> FirewallText:
    result = firewall_via_agent(launcher, netns, ("iptables-save", "-c"))
    return FirewallText(str(result.extra.get("stdout") or "") if result.ok else "", "")
