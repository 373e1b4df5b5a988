"""What a name means inside one vantage: its /etc/hosts, then Docker's DNS (only for lab names)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LooplabError
from ..probes.protocol import ProbeSpec
from ..resolution import dial_order
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
        # Docker's DNS answers a name only on the networks where it is registered and forwards
        # every other query to the host's resolver: ask it only for names it will answer itself.
        mine = set(live.state.members[namespace].addresses) if namespace != HOST else set()
        registered = {
            att.network for s in live.lab.services for att in s.networks if name == s.name or name in att.aliases
        }
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
                f"{name} is registered on {', '.join(sorted(registered)) or 'no network'}, "
                f"none of which {vantage} is on; Docker's DNS would forward the query outside the lab, "
                "so it was not asked"
            )
        addresses = list(result.extra.get("addresses") or [])
        order = dial_order(addresses, live.state.ipv6_loopback.get(namespace, False))
        return ResolveAnswer(
            vantage, name, result.state, result.extra.get("source"), tuple(addresses), tuple(order), detail
        )
