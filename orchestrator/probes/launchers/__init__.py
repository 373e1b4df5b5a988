"""Launchers put the agent into namespaces. One small contract, one module per strategy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...errors import Interrupted, LooplabError, ProbeError
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


def make_launcher(
    name: str, live: LiveLab, *, caps: tuple[str, ...] = ("NET_RAW",), enter: Sequence[str] = ()
) -> tuple[Launcher, str]:
    """The launcher called `name` for this running lab ("auto": the first that really enters it),
    and why it was chosen. `enter`: the members whose namespaces the command will enter, proved
    at once (a launcher with helpers starts them in parallel); by default one member's."""
    from .auto import choose, prove

    if name == "auto":
        return choose(live, caps=caps, enter=enter)
    if name not in LAUNCHERS:
        raise ProbeError(f"unknown launcher {name!r}; choose one of {', '.join(CHOICES)}")
    launcher = JoinLauncher(live, caps=caps) if name == "join" else LAUNCHERS[name](live)
    try:
        return launcher, prove(name, launcher, live, enter) + " (asked for with --launcher)"
    except Interrupted:
        launcher.close()
        raise
    except LooplabError as exc:
        launcher.close()
        raise ProbeError(f"--launcher {name} cannot enter the lab's namespaces: {exc}") from exc


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
