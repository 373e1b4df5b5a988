"""The raw reads diagnosis needs (diagnosis.finder.RawReads), over a running lab and a launcher."""

from __future__ import annotations

from .probes.launchers import Launcher
from .runtime.base import LiveLab
from .runtime.state import NetworkEvent


class LiveReads:
    """Logs from the runtime's handle; firewall rules through the launcher, inside the namespace."""

    def __init__(self, live: LiveLab, launcher: Launcher) -> None:
        self.live = live
        self.launcher = launcher

    def logs(self, member: str, tail: int) -> str:
        return self.live.handle.logs(member, tail)

    def firewall_text(self, namespace: str) -> tuple[str, str]:
        text = self.launcher.read_firewall(self.live.state.netns(namespace))
        return text.iptables_save, text.nft_ruleset

    def network_events(self, since: float, until: float) -> list[NetworkEvent]:
        return self.live.handle.network_events(since, until)
