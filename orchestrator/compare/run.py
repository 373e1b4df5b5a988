"""Run `looplab compare`: the same listeners in every placement, probed from every vantage,
on one engine or several (`--context`). Everything started is removed afterwards.
See docs/ARCHITECTURE.md ("compare")."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..addresses import host_port
from ..domain import Engine, PlannedCell
from ..engine_rules import apply_engine_rules
from ..errors import LooplabError
from ..labfile.listeners import parse_listener_url
from ..labfile.loader import load_lab
from ..labfile.model import STATES, Listener
from ..plan import cell_for_target
from ..probing import run_matrix
from ..runtime import context_endpoint
from ..runtime.interrupts import signals_raise
from ..session import RunOptions, running
from .host_process import HostProcess
from .model import COLUMNS, CompareCell, CompareReport, CompareRow, Comparison
from .placements import HOST_PROCESS, LAB_A, LAB_B, PLACEMENTS, Placement, host_bound, lab_text, lesson, question

_ANY = frozenset(STATES)  # a cell the model says nothing about (the host process): every state passes


def listeners_of(urls: list[str]) -> list[Listener]:
    """The listener URLs as given, each validated (one line naming the bad one)."""
    out = []
    for url in urls:
        try:
            out.append(parse_listener_url("compare", url))
        except ValueError as exc:
            raise LooplabError(f"compare: {exc}") from None
    if not out:
        raise LooplabError("compare: give at least one listener URL (e.g. tcp://127.0.0.1:62893) or a lab file")
    return out


def compare(
    targets: list[str], opts: RunOptions, contexts: list[str] | None = None, progress: Callable[[str], None] = print
) -> CompareReport:
    """Compare listener URLs, or each service of one lab file, on each context (default: the environment's)."""
    jobs = _jobs(targets)
    comparisons = []
    for context in contexts or ["default"]:
        with _engine(context):
            for service, listeners in jobs:
                progress(f"comparing {service or 'the listeners'} on {context}")
                comparisons.append(compare_once(listeners, opts, context=context, service=service))
    return CompareReport.of(comparisons)


def _jobs(targets: list[str]) -> list[tuple[str | None, list[Listener]]]:
    if len(targets) == 1 and targets[0].endswith((".yml", ".yaml")):
        lab = load_lab(targets[0])
        jobs = [(s.name, list(s.listeners)) for s in lab.services if s.listeners]
        if not jobs:
            raise LooplabError(f"{targets[0]}: no service declares a listener to compare")
        return jobs
    return [(None, listeners_of(targets))]


@contextmanager
def _engine(context: str) -> Iterator[None]:
    """DOCKER_HOST pointed at `context` (a Docker context name or an engine URL) for the block."""
    if context == "default":
        yield
        return
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = context_endpoint(context)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before


def compare_once(listeners: list[Listener], opts: RunOptions, *, context: str, service: str | None) -> Comparison:
    """Every placement of `listeners` on the current engine."""
    started = time.perf_counter()
    urls = [f"{x.scheme}://{host_port(x.address, x.port)}" for x in listeners]
    info = opts.make_runtime().info()
    rootless = bool(info.rootless)
    rows: dict[str, CompareRow] = {}
    warnings: list[str] = []
    engine = launcher_name = None
    stem = f"compare-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="looplab-compare-") as tmp, signals_raise():
        # a process here is on the engine's host only when the engine runs on this machine
        host = HostProcess([host_bound(x) for x in listeners]) if info.local is not False else None
        if host is None:
            rows[HOST_PROCESS] = _skipped(
                HOST_PROCESS, "the engine is not on this machine: a process here is not on its host"
            )
        try:
            if host is not None:
                host.start()
                warnings += [f"host placement: {line}" for line in host.failed]
            engine, launcher_name, noticed = _phase(Path(tmp), stem, LAB_A, urls, listeners, opts, rows, rootless)
            warnings += noticed
        finally:
            if host is not None:
                host.stop()
        if rootless:
            rows["host-mode"] = _skipped("host-mode", "refused: on a rootless engine `host` is RootlessKit's namespace")
        else:
            warnings += _phase(Path(tmp), stem, LAB_B, urls, listeners, opts, rows, rootless)[2]
    ordered = tuple(rows[p.name] for p in PLACEMENTS if p.name in rows)
    return Comparison(
        context=context,
        engine=engine,
        launcher=launcher_name,
        listeners=tuple(urls),
        rows=ordered,
        warnings=tuple(dict.fromkeys(warnings)),
        service=service,
        duration_s=round(time.perf_counter() - started, 3),
    )


def _skipped(name: str, why: str) -> CompareRow:
    placement = next(p for p in PLACEMENTS if p.name == name)
    return CompareRow(name, placement.how, why, (), skipped=why)


def _phase(
    tmp: Path,
    stem: str,
    which: str,
    urls: list[str],
    listeners: list[Listener],
    opts: RunOptions,
    rows: dict[str, CompareRow],
    rootless: bool,
) -> tuple[Engine | None, str | None, list[str]]:
    """Start lab `which`, probe its placements' cells (and the host process's, beside lab A) into
    `rows`; the engine, the launcher and what the run warned about."""
    path = tmp / f"{stem}-{which}.yml"
    path.write_text(lab_text(which, urls))
    with running(str(path), opts) as (live, launcher):
        placements = [p for p in PLACEMENTS if p.lab == which and p.name not in rows]  # not the skipped
        asked: list[tuple[Placement, str, Listener, str, PlannedCell | str]] = []
        for p in placements:
            ports = {
                (pub.container_port, pub.proto): pub.host_port for pub in live.state.published if pub.service == p.name
            }
            for column in COLUMNS:
                for url, lst in zip(urls, listeners, strict=True):
                    asked.append((p, column, lst, url, _planned(p, column, lst, ports, live)))
        planned = [a[4] for a in asked if not isinstance(a[4], str)]
        kept = apply_engine_rules(planned, live.state)
        probed = run_matrix(kept, live.state, live.lab.probe, launcher, live.lab)
        seen = {(c.vantage, c.target, c.proto): c for c in probed}
        for p in placements:
            cells = []
            for q, column, _lst, url, cell in asked:
                if q is p:
                    cells.append(_cell(url, column, cell, seen))
            rows[p.name] = CompareRow(p.name, p.how, lesson(p, listeners, rootless), tuple(cells))
        return live.engine, live.launcher, list(live.state.warnings)


def _planned(p: Placement, column: str, lst: Listener, ports, live) -> PlannedCell | str:
    asked = question(p, column, lst, ports)
    if isinstance(asked, str):
        return asked
    vantage, target = asked
    try:
        cell = cell_for_target(vantage, target, lst.proto, live.lab, live.state)
    except LooplabError as exc:
        return str(exc)
    if p.name == HOST_PROCESS or not cell.accepted:  # the lab knows nothing of the host process
        return replace(cell, expected="—", accepted=_ANY)
    return cell


def _cell(url: str, column: str, asked: PlannedCell | str, seen) -> CompareCell:
    if isinstance(asked, str):
        return CompareCell(url, column, None, note=asked)
    probed = seen.get((asked.vantage, asked.target, asked.proto))
    if probed is None:
        return CompareCell(
            url, column, None, vantage=asked.vantage, target=asked.target, note="left out by the engine's rules"
        )
    modelled = asked.accepted != _ANY
    return CompareCell(
        url,
        column,
        probed.state,
        expected=probed.expected if modelled else None,
        verdict=probed.verdict if modelled else None,
        vantage=probed.vantage,
        target=probed.target,
        note=probed.detail,
    )
