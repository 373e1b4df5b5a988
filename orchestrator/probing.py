"""Turn planned cells into agent batches (one per vantage) and results into judged cells."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace

from .domain import Cell, PlannedCell
from .labfile.model import Lab, ProbeSettings
from .probes.launchers import Batch, Launcher, VantageOutcome
from .probes.protocol import ProbeResult, ProbeSpec
from .runtime.quiet import probing
from .runtime.state import NEIGHBOUR, LabState


def probe_for(index: int, cell: PlannedCell, settings: ProbeSettings) -> ProbeSpec:
    """The probe for one planned cell (its kind chosen by the plan); a ping has no port."""
    return ProbeSpec(
        id=str(index),
        kind=cell.probe,
        address=cell.address,
        port=cell.port if cell.probe != "icmp" else None,
        timeout=settings.timeout_s,
        grace=settings.grace_s,
    )


def batches_for(planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings) -> list[Batch]:
    """One batch per vantage, probes in plan order."""
    by_vantage: dict[str, list[ProbeSpec]] = {}
    for i, cell in enumerate(planned):
        by_vantage.setdefault(cell.vantage, []).append(probe_for(i, cell, settings))
    return [Batch(vantage, state.netns(vantage), probes) for vantage, probes in by_vantage.items()]


def run_matrix(
    planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings, launcher: Launcher, lab: Lab
) -> list[Cell]:
    """Probe every cell; then probe the failing ones once more, and record both observations.

    A leak seen once is a leak: an exposed cell (more reachable than expected) stays exposed
    whatever the second probe sees. A broken or mismatched cell that passes when asked again
    is `flaky` (on Docker 20.10 another lab's network creation rewrites the firewall and, for a
    few milliseconds, traffic crosses bridges or is dropped): it passes unless `--strict`.
    """
    with probing(state.engine):  # no looplab run here creates a network meanwhile (runtime/quiet.py)
        return _probe_twice(planned, state, settings, launcher, lab)


def _probe_twice(
    planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings, launcher: Launcher, lab: Lab
) -> list[Cell]:
    deadline = settings.timeout_s + settings.grace_s + 30.0
    cells = judge(planned, launcher.run(batches_for(planned, state, settings), deadline_s=deadline), lab)
    again = [i for i, cell in enumerate(cells) if not cell.passed]
    if not again:
        return cells
    retry = [planned[i] for i in again]
    second = judge(retry, launcher.run(batches_for(retry, state, settings), deadline_s=deadline), lab)
    for i, cell in zip(again, second):
        cells[i] = combine(cells[i], cell)
    return cells


def observation(cell: Cell) -> str:
    """One probe's result as listed under the matrix: `open (detail)`."""
    return f"{cell.state} ({cell.detail})" if cell.detail else cell.state


def combine(first: Cell, second: Cell) -> Cell:
    """The verdict of a cell probed twice (the first probe failed); both observations are kept."""
    seen = (observation(first), observation(second))
    both = f"the first probe saw {seen[0]}; a second saw {seen[1]}"
    if first.verdict == "exposed" or second.verdict == "exposed":
        stands = first if first.verdict == "exposed" else second
        return replace(stands, observations=seen, detail=f"exposed: {both} (a leak seen once is a leak)")
    if second.passed:
        return replace(second, verdict="flaky", observations=seen, detail=f"flaky: {both}")
    return replace(first, observations=seen, detail=f"{first.detail + '; ' if first.detail else ''}{both}")


def judge(planned: Sequence[PlannedCell], outcomes: dict[str, VantageOutcome], lab: Lab) -> list[Cell]:
    results: dict[str, ProbeResult] = {}
    errors: dict[str, str] = {}
    for vantage, outcome in outcomes.items():
        if outcome.error:
            errors[vantage] = outcome.error
        for result in outcome.results:
            results[result.id] = result
    cells = []
    for i, p in enumerate(planned):
        result = results.get(str(i))
        if result is None:
            state, latency = "error", None
            detail = errors.get(p.vantage, "the agent returned no result for this probe")
        else:
            state, latency, detail = result.state, result.latency_ms, result.detail
            if result.status and not detail:
                detail = result.status  # an HTTP status line says more than "open"
        state, detail = p.as_dialled(state, detail)
        cells.append(p.observed(state, latency_ms=latency, detail=detail, reproduce=reproduce_command(lab, p)))
    return cells


def reproduce_command(lab: Lab, cell: PlannedCell) -> str:
    """Repeat this one probe on a lab left running by `looplab up`."""
    proto = f" --proto {cell.proto}" if cell.proto != "tcp" else ""
    proto += " --lan" if cell.vantage == NEIGHBOUR else ""
    target = cell.target if cell.proto != "icmp" else cell.target.rpartition(":")[0] or cell.target
    return (
        f"looplab up {shlex.quote(lab.path)} && looplab probe --lab {lab.name} "
        f"--from {shlex.quote(cell.vantage)} {shlex.quote(target)}{proto}"
    )
