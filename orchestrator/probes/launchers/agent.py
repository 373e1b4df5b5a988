"""agent: one long-lived toolbox container per run, in the host's PID and network namespaces,
that enters every vantage's namespace itself exactly as `setns` does here.

For a user who cannot setns on this machine but may ask the engine for a container with
CAP_SYS_ADMIN and the host's PID namespace: a non-root member of the `docker` group,
Docker Desktop (whose VM is the "host"), a remote engine over `DOCKER_HOST`. Batches reach
it through the runtime (`LabHandle.run_agent`: one long-lived agent fed over the attached
stdin of one exec), so any transport works. See
docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from ...errors import ProbeError
from ...runtime.base import HelperSpec, LiveLab
from ...runtime.state import Netns
from .base import (
    Batch,
    FirewallText,
    Inventory,
    VantageOutcome,
    add_rule_via_agent,
    from_response,
    inventory_via_agent,
    read_rules_via_agent,
    split_named,
    to_request,
)

CAPS = ("SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "NET_RAW")  # setns, /proc/PID/ns, firewall, ping


def helper_caps() -> tuple[str, ...]:
    """The capabilities the helper asks for; LOOPLAB_AGENT_CAPS (comma-separated) overrides them,
    for engines whose policy names capabilities differently (and to see how a refusal reads)."""
    wanted = os.environ.get("LOOPLAB_AGENT_CAPS")
    return tuple(c.strip() for c in wanted.split(",") if c.strip()) if wanted else CAPS


class AgentLauncher:
    name = "agent"
    enters_named = False

    def __init__(self, live: LiveLab) -> None:
        self.live = live
        self._helper: str | None = None

    def helper(self) -> str:
        """The agent's container, started on first use."""
        if self._helper is None:
            self._helper = self.live.handle.start_helper(HelperSpec("~agent", host_namespaces=True, caps=helper_caps()))
        return self._helper

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        batches, refused = split_named(batches)
        if not batches:
            return refused
        netns = {b.vantage: (f"/proc/{b.netns.pid}/ns/net" if b.netns.pid else None) for b in batches}
        request = json.dumps(to_request(batches, netns)).encode()
        return {**refused, **answer(self.live.handle.run_agent(self.helper(), request, deadline_s))}

    def inventory(self, namespaces: Sequence[Netns], *, owners: bool) -> dict[str, Inventory]:
        return inventory_via_agent(self, namespaces)

    def add_firewall_rule(self, netns: Netns, iptables_args: list[str]) -> None:
        add_rule_via_agent(self, netns, iptables_args)

    def read_firewall(self, netns: Netns) -> FirewallText:
        return read_rules_via_agent(self, netns)

    def close(self, *, teardown_follows: bool = False) -> None:
        if self._helper is not None:
            helper, self._helper = self._helper, None
            self.live.handle.remove_helper(helper, container=not teardown_follows)


def answer(raw: bytes) -> dict[str, VantageOutcome]:
    """The agent's JSON answer as outcomes; ProbeError if it is unreadable or refused the request."""
    try:
        response = json.loads(raw)
    except ValueError as exc:
        raise ProbeError(f"the probe agent answered something unreadable: {exc}") from exc
    if response.get("error"):
        raise ProbeError(f"the probe agent refused the request: {response['error']}")
    return from_response(response)
