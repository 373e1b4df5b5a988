"""Attach to a lab left running by `looplab up`, with a launcher, as every on-demand command needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .. import lan_vantage
from ..discovery import with_discovered
from ..errors import LooplabError
from ..plan import vantages
from ..probes.launchers import Batch, Launcher, make_launcher
from ..probes.protocol import ProbeResult, ProbeSpec
from ..readiness import take_inventory
from ..runtime import LiveLab, get_runtime
from ..runtime.interrupts import interrupted, signals_deferred
from ..runtime.state import NEIGHBOUR, LabState, observer_names


@contextmanager
def open_lab(
    lab_name: str | None, launcher_name: str, need: tuple[str, ...] = (), *, inventory: bool = True, lan: bool = False
) -> Iterator[tuple[LiveLab, Launcher]]:
    """The running lab (observers among `need` started: `up` leaves them for first use) and the
    launcher; with `inventory`, every namespace's sockets are read and discovered listeners added;
    with `lan`, the LAN neighbour made for this command. Whatever the command made (helpers, the
    neighbour) is removed on the way out; the lab stays."""
    live = get_runtime().attach(lab_name)
    for vantage in need[:1]:
        check_vantage(live, vantage)
    if NEIGHBOUR in need and not lan:
        raise LooplabError(
            f"--from {NEIGHBOUR}: the LAN neighbour is made only when asked for: add --lan (probe and diagnose)"
        )
    who = "--lan" if lan else None
    lan_vantage.refuse_early(who, live.engine, launcher_name)
    live.ensure_observers(list(need), observer_names(live.lab))
    launcher, live.launcher = make_launcher(launcher_name, live)
    try:
        if who:
            lan_vantage.make(live, launcher, who)
        if inventory:
            take_inventory(live.state, launcher, live.state.all_namespaces())
            live.lab = with_discovered(live.lab, live.state)
        yield live, launcher
    finally:
        with signals_deferred(reraise=False) as seen:
            launcher.close()
            if who:
                lan_vantage.remove(live)
        if seen:  # the lab left by `up` stays; only this command's helpers were removed
            raise interrupted(seen[0], lab_removed=False)


def check_vantage(live: LiveLab, vantage: str) -> None:
    known = vantages(live.lab)
    if vantage not in known:
        raise LooplabError(f"unknown vantage {vantage!r}; this lab has: {', '.join(known)}")


def run_one(state: LabState, launcher: Launcher, vantage: str, spec: ProbeSpec, deadline_s: float) -> ProbeResult:
    """Run one agent probe from one vantage; its result, or a LooplabError if it could not run."""
    outcome = launcher.run([Batch(vantage, state.netns(vantage), [spec])], deadline_s=deadline_s)[vantage]
    if outcome.error:
        raise LooplabError(f"cannot probe from {vantage}: {outcome.error}")
    return outcome.results[0]
