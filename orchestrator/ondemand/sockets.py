"""Listening sockets with their process, per namespace of a running lab (netstat/lsof)."""

from __future__ import annotations

from .attach import check_vantage, open_lab


def sockets(lab_name: str | None, member: str | None, launcher: str = "auto") -> dict[str, list[dict]]:
    """Listening sockets per namespace (`ss -ltnup` from inside each), keyed by namespace owner."""
    with open_lab(lab_name, launcher, (member,) if member else ()) as (live, _):
        state = live.state
        if member is not None:
            check_vantage(live, member)
            namespace = state.namespace_of(member)
            return {namespace: state.sockets.get(namespace, [])}
        return {ns: state.sockets.get(ns, []) for ns in state.all_namespaces()}
