"""What a name means inside one vantage: its /etc/hosts, then Docker's DNS (only for lab names)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LooplabError
from ..probes.protocol import ProbeSpec
from ..resolution import dial_order
from ..runtime.base import LiveLab
from ..runtime.state import HOST
from .attach import open_lab, run_one


@dataclass(frozen=True)
class ResolveAnswer:
    """What a name means inside one vantage, and which address a plain client dials first."""

    vantage: str
    name: str
    state: str  # ok | unresolved | error
    source: str | None  # hosts | dns | literal
    addresses: tuple[str, ...]
    dial_order: tuple[str, ...]  # getaddrinfo's order in that namespace (RFC 6724)
    detail: str | None

    @property
    def ok(self) -> bool:
        return self.state == "ok" and bool(self.dial_order)


def resolve(lab_name: str | None, vantage: str, name: str, launcher: str = "auto") -> ResolveAnswer:
    """What NAME resolves to inside a vantage's namespace: its /etc/hosts, then Docker's DNS.

    Only `localhost` and the lab's own service names and aliases may be asked: Docker's DNS
    forwards names it does not know to the host's resolver, outside the lab (safety).
    """
    with open_lab(lab_name, launcher, (vantage,)) as (live, launch):
        allowed = (
            {"localhost"}
            | {s.name for s in live.lab.services}
            | {alias for s in live.lab.services for att in s.networks for alias in att.aliases}
        )
        if name not in allowed:
            raise LooplabError(
                f"resolve {name!r}: only localhost and the lab's service names and aliases may be "
                f"asked ({', '.join(sorted(allowed))}); Docker's DNS would forward other names "
                "outside the lab"
            )
        namespace = live.state.namespace_of(vantage)
        pid = live.state.netns(vantage).pid
        # Docker's DNS answers a name only on the networks where a running container carries it
        # and forwards every other query to the host's resolver: ask it only for names it will
        # answer itself, as the engine has them now (a stopped service's name is not answered).
        mine = set(live.state.members[namespace].addresses) if namespace != HOST else set()
        registered = live_networks_of(live, name)
        ask_dns = namespace != HOST and bool(mine & registered)
        spec = ProbeSpec(
            id="0",
            kind="resolve",
            name=name,
            root=f"/proc/{pid}/root" if pid else "/",
            dns=ask_dns,
            timeout=live.lab.probe.timeout_s,
        )
        result = run_one(live.state, launch, vantage, spec, live.lab.probe.timeout_s * 2 + 30)
        detail = result.detail
        if not result.ok and name != "localhost" and namespace != HOST and not ask_dns:
            detail = (
                f"{name} is answered on {', '.join(sorted(registered)) or 'no network (no running container has it)'}, "
                f"none of which {vantage} is on; Docker's DNS would forward the query outside the lab, "
                "so it was not asked"
            )
        addresses = list(result.extra.get("addresses") or [])
        order = dial_order(addresses, live.state.ipv6_loopback.get(namespace, False))
        return ResolveAnswer(
            vantage, name, result.state, result.extra.get("source"), tuple(addresses), tuple(order), detail
        )


def live_networks_of(live: LiveLab, name: str) -> set[str]:
    """The lab networks on which Docker's DNS answers `name` now: those where a running service
    container (pid > 0, attached as the engine reports it) has it as its name or an alias."""
    services = {s.name: s for s in live.lab.services}
    found: set[str] = set()
    for member in live.state.members.values():
        svc = services.get(member.name)
        if svc is None or member.pid <= 0:
            continue
        aliases = {att.network: set(att.aliases) for att in svc.networks}
        found |= {net for net in member.addresses if name == member.name or name in aliases.get(net, ())}
    return found
