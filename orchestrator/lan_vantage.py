"""The LAN neighbour for one command: whether it was asked for, whether it can be made here, and
making and removing it around a running lab (docs/ARCHITECTURE.md, "The LAN neighbour").

It is made only where looplab can make namespaces and enter them by path: as root, next to a
rootful engine on this machine, with the setns launcher. Anywhere else, asking for it (`--lan`,
or `x-looplab.probe.lan: true` in the lab file) is refused in one line before anything starts:
a lab that asks for the neighbour and silently went without it would pass cells nobody probed.
"""

from __future__ import annotations

from .domain import Engine
from .errors import LooplabError
from .labfile.model import Lab
from .probes.launchers import Launcher
from .probes.launchers.base import NAMED_NETNS_REFUSAL
from .runtime import neighbour
from .runtime.base import LiveLab
from .runtime.state import NEIGHBOUR

REFUSED = "the LAN neighbour @neighbour cannot be made here"


def asked(lab: Lab, flag: bool) -> str | None:
    """Who asked for the neighbour, for the refusal's first words; None when nobody did."""
    if flag:
        return "--lan"
    if lab.probe.lan:
        return f"{lab.probe.lan_location or lab.path}: x-looplab.probe.lan"
    return None


def refuse_early(who: str | None, engine: Engine, launcher: str) -> None:
    """Before anything starts: one line saying why the neighbour cannot be made, if it cannot."""
    if who is None:
        return
    why = None
    if engine.rootless:
        why = (
            "on a rootless engine the containers' addresses live in RootlessKit's network namespace, "
            "which a neighbour of this host has no route to"
        )
    elif engine.local is False or engine.desktop:
        why = "the engine is not on this machine, so its bridges are not this host's to route to"
    elif launcher in ("agent", "join", "local"):
        why = f"its namespace is entered only by the setns launcher, not --launcher {launcher}"
    else:
        why = neighbour.refusal()
    if why:
        raise LooplabError(f"{who}: {REFUSED}: {why}")


def make(live: LiveLab, launcher: Launcher, who: str) -> None:
    """Make the neighbour of this run (the lab's subnets routed via the host) and record it in the
    run's state; the caller removes it (`remove`) on every way out."""
    if not launcher.enters_named:
        raise LooplabError(f"{who}: {REFUSED}: {NAMED_NETNS_REFUSAL}")
    subnets = [net.subnet for name, net in live.state.networks.items() if name in {n.name for n in live.lab.networks}]
    live.state.neighbour = neighbour.create(live.state.run_id, subnets)


def remove(live: LiveLab) -> None:
    """Remove the run's neighbour, if it has one (its namespace, and with it the veth pair)."""
    made, live.state.neighbour = live.state.neighbour, None
    neighbour.remove(made)
    neighbour.remove_own(live.state.run_id)  # one made just before a signal, whose handle was lost


__all__ = ["NEIGHBOUR", "asked", "make", "refuse_early", "remove"]
