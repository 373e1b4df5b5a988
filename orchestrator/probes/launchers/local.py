"""local: the host vantage only, in the orchestrator's own namespace, in-process (no privilege)."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ProbeError
from ...runtime.state import Netns
from .base import Batch, FirewallText, Inventory, VantageOutcome
from .setns import SetnsLauncher


def _refuse_foreign(owners: list[str]) -> None:
    if owners:
        raise ProbeError(f"the local launcher probes only the host; cannot enter {', '.join(owners)}")


class LocalLauncher:
    name = "local"
    enters_named = False

    def __init__(self) -> None:
        self._here = SetnsLauncher(in_process=True)

    def run(self, batches: Sequence[Batch], *, deadline_s: float) -> dict[str, VantageOutcome]:
        _refuse_foreign([b.vantage for b in batches if b.netns.pid is not None or b.netns.path])
        return self._here.run(batches, deadline_s=deadline_s)

    def inventory(self, namespaces: Sequence[Netns], *, owners: bool) -> dict[str, Inventory]:
        """Any namespace: /proc/PID is read in-process, nothing is entered."""
        return self._here.inventory(namespaces, owners=owners)

    def add_firewall_rule(self, netns: Netns, iptables_args: list[str]) -> None:
        raise ProbeError("the local launcher does not change firewall rules (it never touches the host's)")

    def read_firewall(self, netns: Netns) -> FirewallText:
        _refuse_foreign([netns.owner] if netns.pid is not None or netns.path else [])
        return self._here.read_firewall(netns)

    def close(self, *, teardown_follows: bool = False) -> None:
        return None
