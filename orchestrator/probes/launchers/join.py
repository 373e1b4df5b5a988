"""join: one toolbox sidecar per vantage namespace (`network_mode`/`pid_mode: container:<id>`),
with no privilege beyond what probes need; the host vantage runs here, in-process.

For rootless engines, Podman, and engines that refuse privileged or host-PID containers.
The sidecar shares the member's network namespace (so its 127.0.0.1 is the member's) and
its PID namespace (so the inventory names the member's processes); Docker gives a joined
container the member's own /etc/hosts, so `localhost` resolves as the member sees it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ...errors import LooplabError
from ...runtime.base import HelperSpec, LiveLab
from ...runtime.state import HOST, Netns
from .agent import answer
from .base import (
    Batch,
    FirewallText,
    Inventory,
    VantageOutcome,
    add_rule_via_agent,
    inventory_via_agent,
    read_rules_via_agent,
    split_named,
    to_request,
)
from .setns import SetnsLauncher

_PARALLEL = 8  # sidecar execs in flight


class JoinLauncher:
    name = "join"
    enters_named = False

    def __init__(self, live: LiveLab, *, caps: tuple[str, ...] = ("NET_RAW",)) -> None:
        self.live = live
        self.caps = caps
        self._sidecars: dict[str, str] = {}
        self._borrowed: set[str] = set()  # observers the agent runs in directly (looplab's own)
        self._here = SetnsLauncher(in_process=True)

    def sidecar(self, owner: str) -> str:
        """The sidecar in `owner`'s namespaces, started on first use. An observer is looplab's own
        toolbox container with Docker's default capabilities: the agent runs in it directly
        (no sidecar to start) when the probes need no more than NET_RAW."""
        if owner not in self._sidecars:
            member = self.live.state.members.get(owner)
            if member is not None and member.role == "observer" and set(self.caps) <= {"NET_RAW"}:
                self._borrowed.add(member.container_id)
                self._sidecars[owner] = member.container_id
            else:
                spec = HelperSpec(f"~join-{owner}", join=owner, caps=self.caps)
                self._sidecars[owner] = self.live.handle.start_helper(spec)
        return self._sidecars[owner]

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        batches, refused = split_named(batches)
        host = [b for b in batches if b.netns.owner == HOST]
        inside: dict[str, list[Batch]] = {}
        for b in batches:
            if b.netns.owner != HOST:
                inside.setdefault(b.netns.owner, []).append(_rooted_here(b))
        out = {**refused, **(self._here.run(host, deadline_s=deadline_s) if host else {})}
        with ThreadPoolExecutor(_PARALLEL) as pool:
            for found in pool.map(lambda owned: self._run_inside(owned, deadline_s), inside.items()):
                out.update(found)
        return out

    def _run_inside(self, owned: tuple[str, list[Batch]], deadline_s: float) -> dict[str, VantageOutcome]:
        owner, batches = owned
        try:
            sidecar = self.sidecar(owner)
        except LooplabError as exc:
            return {b.vantage: VantageOutcome(b.vantage, f"cannot join {owner}: {exc}", []) for b in batches}
        request = json.dumps(to_request(batches, {b.vantage: None for b in batches})).encode()
        return answer(self.live.handle.run_agent(sidecar, request, deadline_s))

    def inventory(self, namespaces: Sequence[Netns], *, owners: bool) -> dict[str, Inventory]:
        host = [ns for ns in namespaces if ns.owner == HOST]
        read = self._here.inventory(host, owners=owners) if host else {}
        read.update(inventory_via_agent(self, [ns for ns in namespaces if ns.owner != HOST]))
        return read

    def add_firewall_rule(self, netns: Netns, iptables_args: list[str]) -> None:
        add_rule_via_agent(self, netns, iptables_args)

    def read_firewall(self, netns: Netns) -> FirewallText:
        return read_rules_via_agent(self, netns)

    def close(self, *, teardown_follows: bool = False) -> None:
        sidecars, self._sidecars = self._sidecars, {}
        if sidecars:  # in parallel: each removal stops a container, and a check waits for them all

            def remove(sidecar: str) -> None:
                keep = teardown_follows or sidecar in self._borrowed  # an observer stays the lab's
                self.live.handle.remove_helper(sidecar, container=not keep)

            with ThreadPoolExecutor(min(_PARALLEL, len(sidecars))) as pool:
                list(pool.map(remove, sidecars.values()))
        self._borrowed.clear()


def _rooted_here(batch: Batch) -> Batch:
    """Inside a sidecar the member's files are its own: a probe's root is "/", not /proc/PID/root."""
    probes = [replace(p, root="/") if p.root else p for p in batch.probes]
    return replace(batch, probes=probes)
