"""The jobs behind the commands: check, up, down, gc. No I/O to the terminal here."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import docker

from .diagnosis.finder import FactFinder
from .diagnosis.rules import diagnose
from .discovery import with_discovered
from .domain import Cell, PlannedCell, Report
from .errors import LooplabError
from .labfile.loader import load_lab
from .labfile.model import Lab
from .plan import plan
from .probes.launchers import make_launcher
from .probing import run_matrix
from .runtime import labels as L
from .runtime.engine import connect, engine_info
from .runtime.firewall import apply_firewall
from .runtime.interrupts import signals_deferred, signals_raise
from .runtime.lifecycle import LabRunner, Removal, check_host_ports, check_images, remove_labelled
from .runtime.readiness import wait_ready
from .runtime.reads import EngineReads
from .runtime.state import LabState
from .runtime.toolbox_image import ensure_toolbox, toolbox_tag

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class RunOptions:
    launcher: str = "setns"
    pull: bool = field(default_factory=lambda: os.environ.get("LOOPLAB_PULL", "missing") != "never")
    progress: Progress = _quiet
    warn: Progress = _quiet


@dataclass
class StartedLab:
    lab: Lab
    state: LabState
    client: docker.DockerClient
    runner: LabRunner
    engine_version: str
    warnings: list[str]


def _start(path: str, opts: RunOptions, *, keep: bool, observers: bool = True) -> StartedLab:
    """Load, preflight, start and wait for readiness; on any failure remove what was made."""
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        opts.warn(msg)

    lab = load_lab(path, warn=warn)
    client = connect()
    version = engine_info(client).version
    opts.progress("checking the toolbox image")
    ensure_toolbox(client)
    check_images(client, lab, pull=opts.pull)
    check_host_ports(lab)
    runner = LabRunner(
        client, lab, run_id=L.new_run_id(), toolbox_image=toolbox_tag(), keep=keep, progress=opts.progress
    )
    launcher = make_launcher(opts.launcher)
    try:
        with signals_raise():
            state = runner.start(observers=observers)
            apply_firewall(lab, state)
            opts.progress("waiting for listeners")
            wait_ready(client, lab, state, launcher, timeout_s=lab.probe.ready_timeout_s, progress=opts.progress)
    except BaseException:
        _teardown(runner, opts)
        raise
    for msg in state.warnings:
        warn(msg)
    return StartedLab(with_discovered(lab, state), state, client, runner, version, warnings)


def _teardown(runner: LabRunner, opts: RunOptions) -> None:
    opts.progress("removing the lab")
    with signals_deferred():
        removal = runner.teardown()
    for msg in removal.warnings():
        opts.warn(msg)


def check(path: str, opts: RunOptions) -> Report:
    """Start the lab, probe the whole matrix, tear down; the report says what was seen."""
    started = time.perf_counter()
    with signals_raise():  # one guard from the first container to the last removal
        lab_run = _start(path, opts, keep=False)
        try:
            planned = plan(lab_run.lab, lab_run.state)
            opts.progress(f"probing {len(planned)} cells")
            cells = run_matrix(planned, lab_run.state, lab_run.lab.probe, make_launcher(opts.launcher), lab_run.lab)
            if any(not c.passed for c in cells):
                opts.progress("diagnosing failing cells")
                cells = explain(planned, cells, FactFinder(EngineReads(lab_run.client), lab_run.lab, lab_run.state))
        finally:
            _teardown(lab_run.runner, opts)
    return Report(
        lab=lab_run.lab.name,
        engine_kind="docker",
        engine_version=lab_run.engine_version,
        cells=tuple(cells),
        run_id=lab_run.state.run_id,
        duration_s=round(time.perf_counter() - started, 3),
        warnings=tuple(lab_run.warnings),
    )


def explain(planned: list[PlannedCell], cells: list[Cell], finder: FactFinder) -> list[Cell]:
    """Attach a diagnosis to every failing cell (`cells` are `planned` probed, in plan order)."""
    out = []
    for p, cell in zip(planned, cells, strict=True):
        found = None if cell.passed else diagnose(finder.facts_for(p, cell))
        out.append(replace(cell, diagnosis=found) if found else cell)
    return out


def up(path: str, opts: RunOptions, *, observers: bool = False) -> StartedLab:
    """Start the lab and leave it running (labelled keep=true) until `looplab down`.

    Observers (`@NET`, `@outside`) start on first use unless `observers` asks for them now.
    """
    with signals_raise():
        return _start(path, opts, keep=True, observers=observers)


def down(lab_name: str | None) -> Removal:
    """Remove labs left running by `up` (one by name, or all)."""
    client = connect()
    filters = {"label": [L.MANAGED, f"{L.KEEP}=true"] + ([f"{L.LAB}={lab_name}"] if lab_name else [])}
    with signals_deferred():
        return remove_labelled(client, filters)


def gc(*, everything: bool = False) -> Removal:
    """Remove what hard-killed runs left: resources whose owner process is gone (all with `everything`)."""
    client = connect()
    host = socket.gethostname()

    def spare(labels: dict) -> bool:
        if everything:
            return False
        return labels.get(L.KEEP) == "true" or _owner_alive(labels, host)

    with signals_deferred():
        return remove_labelled(client, L.managed_filter(), keep=spare)


def _owner_alive(labels: dict, host: str) -> bool:
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


def running_labs() -> dict[str, list[str]]:
    """Labs left running by `up`: lab name -> container names."""
    client = connect()
    labs: dict[str, list[str]] = {}
    for c in client.containers.list(all=True, filters={"label": [L.MANAGED, f"{L.KEEP}=true"]}):
        labs.setdefault(c.labels.get(L.LAB, "?"), []).append(c.name)
    return labs


__all__ = ["LooplabError", "Removal", "RunOptions", "StartedLab", "check", "down", "gc", "running_labs", "up"]
