"""Launchers put the agent into namespaces. One small contract, one module per strategy."""

from __future__ import annotations

from ...errors import ProbeError
from .base import Batch, FirewallText, Inventory, Launcher, VantageOutcome
from .local import LocalLauncher
from .setns import SetnsLauncher

LAUNCHERS: dict[str, type] = {"setns": SetnsLauncher, "local": LocalLauncher}


def make_launcher(name: str) -> Launcher:
    try:
        return LAUNCHERS[name]()
    except KeyError:
        raise ProbeError(f"unknown launcher {name!r}; choose one of {', '.join(sorted(LAUNCHERS))}") from None


__all__ = [
    "Batch",
    "FirewallText",
    "Inventory",
    "LAUNCHERS",
    "Launcher",
    "LocalLauncher",
    "SetnsLauncher",
    "VantageOutcome",
    "make_launcher",
]
