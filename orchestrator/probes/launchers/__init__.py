"""Launchers put the agent into namespaces. One small contract, one module per strategy."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import ProbeError
from ...runtime.base import LiveLab
from .agent import AgentLauncher
from .base import Batch, FirewallText, Inventory, Launcher, VantageOutcome
from .join import JoinLauncher
from .local import LocalLauncher
from .setns import SetnsLauncher

LAUNCHERS: dict[str, Callable[[LiveLab], Launcher]] = {
    "setns": lambda _live: SetnsLauncher(),
    "local": lambda _live: LocalLauncher(),
    "agent": AgentLauncher,
    "join": JoinLauncher,
}
CHOICES = ("auto", *LAUNCHERS)


def make_launcher(name: str, live: LiveLab, *, caps: tuple[str, ...] = ("NET_RAW",)) -> tuple[Launcher, str]:
    """The launcher called `name` for this running lab ("auto": the first that really enters it),
    and why it was chosen."""
    if name == "auto":
        from .auto import choose

        return choose(live, caps=caps)
    if name not in LAUNCHERS:
        raise ProbeError(f"unknown launcher {name!r}; choose one of {', '.join(CHOICES)}")
    if name == "join":
        return JoinLauncher(live, caps=caps), "join: asked for with --launcher"
    return LAUNCHERS[name](live), f"{name}: asked for with --launcher"


__all__ = [
    "CHOICES",
    "AgentLauncher",
    "Batch",
    "FirewallText",
    "Inventory",
    "JoinLauncher",
    "LAUNCHERS",
    "Launcher",
    "LocalLauncher",
    "SetnsLauncher",
    "VantageOutcome",
    "make_launcher",
]
