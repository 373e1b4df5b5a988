"""The jobs behind the commands: check, up, down, gc. No I/O to the terminal here.

Every engine operation goes through the runtime contract (runtime/base.py) and everything
done inside a namespace through the launcher contract (probes/launchers/base.py).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from . import lan_vantage
from .diagnosis.finder import FactFinder
from .diagnosis.rules import diagnose
from .discovery import with_discovered
from .domain import Cell, PlannedCell, Report
from .engine_rules import refuse_host_mode
from .errors import LooplabError, ProbeError
from .firewall_setup import apply_declared_rules
from .labfile.limits import DEFAULT_LIMITS, Limits
from .labfile.loader import load_lab
from .live_reads import LiveReads
from .members import refuse_failed, settle_exited
from .plan import plan
from .probes.launchers import Launcher, make_launcher
from .probing import run_matrix
from .readiness import wait_ready
from .runtime import LiveLab, Removal, Runtime, get_runtime, neighbour
from .runtime import labels as L
from .runtime.base import Progress
from .runtime.interrupts import hold_for_test, interrupted, signals_deferred, signals_raise


def _quiet(_: str) -> None:
    return None


@dataclass
class RunOptions:
    launcher: str = "auto"
    runtime: str = "docker"
    pull: bool = field(default_factory=lambda: os.environ.get("LOOPLAB_PULL", "missing") != "never")
    progress: Progress = _quiet
    warn: Progress = _quiet
    limits: Limits = DEFAULT_LIMITS
    lan: bool = False  # make the LAN neighbour `@neighbour` (`--lan`)
    name_suffix: str = ""  # run the lab as NAME-SUFFIX (unique per pytest-xdist worker and test run)
    read_firewalls: bool = False  # helpers that join a namespace may read its iptables rules (audit)

    def make_runtime(self) -> Runtime:
        return get_runtime(self.runtime)

    def make_launcher(self, live: LiveLab) -> Launcher:
        """The launcher for this running lab; `live.launcher` records which and why."""
        caps = ("NET_RAW", "NET_ADMIN") if live.lab.firewall or self.read_firewalls else ("NET_RAW",)
        # readiness and the matrix enter every namespace: prove them all at once
        launcher, live.launcher = make_launcher(self.launcher, live, caps=caps, enter=list(live.state.members))
        return launcher


def _start(path: str, opts: RunOptions, *, keep: bool, observers: bool = True) -> tuple[LiveLab, Launcher]:
    """Load, preflight, start, choose the launcher and wait for readiness; on any failure remove
    what was made. The caller closes the launcher."""
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        opts.warn(msg)

    lab = load_lab(path, warn=warn, limits=opts.limits)
    if opts.name_suffix:
        lab = replace(lab, name=f"{lab.name}-{opts.name_suffix}")
    runtime = opts.make_runtime()
    refuse_host_mode(lab, bool(runtime.info().rootless))
    lan = None if keep else lan_vantage.asked(lab, opts.lan)  # `up` makes none: each later command its own
    lan_vantage.refuse_early(lan, runtime.info(), opts.launcher)
    opts.progress("checking the images")
    runtime.preflight(lab, pull=opts.pull)
    with signals_raise():
        live = runtime.start(lab, keep=keep, observers=observers, progress=opts.progress, warn=warn)
        launcher = None
        try:
            settle_exited(live)  # a one-shot already done is no namespace to enter; a crash is the cause
            opts.progress("choosing a launcher")
            try:
                launcher = opts.make_launcher(live)
            except ProbeError:
                refuse_failed(live)  # a member that died meanwhile is why, not the launchers
                raise
            apply_declared_rules(lab, live.state, launcher)
            opts.progress("waiting for listeners")
            wait_ready(live, launcher, timeout_s=lab.probe.ready_timeout_s, progress=opts.progress)
            if lan:
                opts.progress("making the LAN neighbour")
                lan_vantage.make(live, launcher, lan)
        except BaseException:
            _teardown(live, launcher, opts)
            raise
    for msg in live.state.warnings:
        warn(msg)
    live.lab = with_discovered(live.lab, live.state)  # less any one-shot that completed (members.py)
    live.warnings = warnings
    return live, launcher


def _teardown(live: LiveLab, launcher: Launcher | None, opts: RunOptions) -> None:
    opts.progress("removing the lab")
    with signals_deferred(reraise=False) as seen:
        hold_for_test("teardown", until=lambda: bool(seen))
        if launcher is not None:
            launcher.close(teardown_follows=True)  # helpers go in the same wave as the lab
        try:
            lan_vantage.remove(live)
        except LooplabError as exc:  # the lab's containers and networks go all the same
            opts.warn(str(exc))
        removal = live.handle.teardown()
    for msg in removal.warnings():
        opts.warn(msg)
    if seen:  # a signal that landed during teardown still ends the run: 130/143, after the removal
        raise interrupted(seen[0])


@contextmanager
def running(path: str, opts: RunOptions) -> Iterator[tuple[LiveLab, Launcher]]:
    """A lab started, ready and with its launcher, for the block; removed afterwards whatever
    happens (signals included), like `check`'s. For commands built on labs of their own (compare)."""
    with signals_raise():
        live, launcher = _start(path, opts, keep=False)
        try:
            yield live, launcher
        finally:
            _teardown(live, launcher, opts)


def check(path: str, opts: RunOptions) -> Report:
    """Start the lab, probe the whole matrix, tear down; the report says what was seen."""
    started = time.perf_counter()
    with signals_raise():  # one guard from the first container to the last removal
        live, launcher = _start(path, opts, keep=False)
        try:
            return probe_matrix(live, launcher, opts, started=started)
        finally:
            _teardown(live, launcher, opts)


def probe_matrix(live: LiveLab, launcher: Launcher, opts: RunOptions, *, started: float | None = None) -> Report:
    """Plan and probe the whole matrix of a running, ready lab; failing cells diagnosed. The lab stays."""
    started = time.perf_counter() if started is None else started
    noticed = len(live.state.warnings)
    planned = plan(live.lab, live.state)
    warnings = list(live.warnings)
    for msg in live.state.warnings[noticed:]:  # what the engine's rules left out
        if msg not in warnings:
            warnings.append(msg)
            opts.warn(msg)
    opts.progress(f"probing {len(planned)} cells")
    window_start = time.time()
    cells = run_matrix(planned, live.state, live.lab.probe, launcher, live.lab)
    refuse_failed(live)  # a member that died meanwhile: its cells describe a namespace that is gone
    window = (window_start, time.time())  # the engine's events in it explain a rewrite window
    if any(not c.passed for c in cells):
        opts.progress("diagnosing failing cells")
        finder = FactFinder(LiveReads(live, launcher), live.lab, live.state, window)
        cells = explain(planned, cells, finder)
    return Report(
        lab=live.lab.name,
        engine=live.engine,
        launcher=live.launcher,
        cells=tuple(cells),
        run_id=live.state.run_id,
        duration_s=round(time.perf_counter() - started, 3),
        warnings=tuple(warnings),
    )


def explain(planned: list[PlannedCell], cells: list[Cell], finder: FactFinder) -> list[Cell]:
    """Attach a diagnosis to every failing cell (`cells` are `planned` probed, in plan order)."""
    out = []
    for p, cell in zip(planned, cells, strict=True):
        found = None if cell.passed else diagnose(finder.facts_for(p, cell))
        out.append(replace(cell, diagnosis=found) if found else cell)
    return out


def up(path: str, opts: RunOptions, *, observers: bool = False) -> LiveLab:
    """Start the lab and leave it running (labelled keep=true) until `looplab down`.

    Observers (`@NET`, `@outside`) start on first use unless `observers` asks for them now.
    """
    with signals_raise():
        live, launcher = _start(path, opts, keep=True, observers=observers)
        with signals_deferred(reraise=False) as seen:
            launcher.close()  # each later command chooses its own
        if seen:  # interrupted before the lab was handed over: remove it, as any interrupted run does
            _teardown(live, None, opts)
            raise interrupted(seen[0])
        return live


def down(lab_name: str | None, opts: RunOptions | None = None) -> Removal:
    """Remove labs left running by `up` (one by name, or all)."""
    runtime = (opts or RunOptions()).make_runtime()
    with signals_deferred():
        removal = runtime.down(lab_name)
    if lab_name is not None and removal.found == 0:  # listed, not merely removed by someone else first
        raise LooplabError(f"no lab {lab_name} is running")
    return removal


def gc(*, everything: bool = False, opts: RunOptions | None = None) -> Removal:
    """Remove what hard-killed runs left: resources whose owner process is gone (all with `everything`)."""
    runtime = (opts or RunOptions()).make_runtime()
    host = socket.gethostname()

    def spare(labels: dict[str, str]) -> bool:
        if everything:
            return False
        return labels.get(L.KEEP) == "true" or _owner_alive(labels, host)

    with signals_deferred():
        removal = runtime.gc(spare=spare)
        # LAN neighbours carry their labels in their names (runtime/neighbour.py); only root removes them
        gone = neighbour.gc(spare) if neighbour.refusal() is None else 0
    if not gone:
        return removal
    return replace(removal, removed=removal.removed + gone, found=(removal.found or 0) + gone)


def _owner_alive(labels: dict[str, str], host: str) -> bool:
    """True when the run that made a resource may still be running (or is not ours to judge)."""
    if labels.get(L.OWNER_HOST) != host:
        return True
    try:
        pid = int(labels.get(L.OWNER_PID, ""))
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(path: str, opts: RunOptions) -> tuple[LiveLab, Launcher]:
    """Start a lab for in-process use (the pytest plugin), ready, not kept: `finish` removes it."""
    return _start(path, opts, keep=False)


def finish(live: LiveLab, launcher: Launcher | None, opts: RunOptions) -> None:
    """Remove a lab `start` made (and the launcher's helpers), deferring signals until it is gone."""
    _teardown(live, launcher, opts)


__all__ = [
    "LiveLab",
    "LooplabError",
    "Removal",
    "RunOptions",
    "check",
    "down",
    "finish",
    "gc",
    "probe_matrix",
    "start",
    "up",
]
