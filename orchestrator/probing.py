"""Turn planned cells into agent batches (one per vantage) and results into judged cells."""

from __future__ import annotations

import shlex
from typing import Sequence

from .plan import PlannedCell
from .probes.launchers import Batch, Launcher, VantageOutcome
from .report.model import Cell, verdict_for
from .runtime.state import HOST, LabState
from .spec.model import Lab, ProbeSettings


def probe_for(index: int, cell: PlannedCell, settings: ProbeSettings) -> dict:
    return {"id": str(index), "kind": "udp" if cell.proto == "udp" else "tcp", "address": cell.address,
            "port": cell.port, "timeout": settings.timeout_s, "grace": settings.grace_s}


def batches_for(planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings) -> list[Batch]:
    """One batch per vantage, probes in plan order."""
    by_vantage: dict[str, list[dict]] = {}
    for i, cell in enumerate(planned):
        by_vantage.setdefault(cell.vantage, []).append(probe_for(i, cell, settings))
    batches = []
    for vantage, probes in by_vantage.items():
        namespace = state.namespace_of(vantage)
        container = None if vantage == HOST else state.members[vantage].container_id
        batches.append(Batch(vantage, state.netns_pid(namespace), container, probes))
    return batches


def run_matrix(planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings,
               launcher: Launcher, lab: Lab) -> list[Cell]:
    batches = batches_for(planned, state, settings)
    deadline = settings.timeout_s + settings.grace_s + 30.0
    outcomes = launcher.run(batches, deadline_s=deadline)
    return judge(planned, outcomes, lab)


def judge(planned: Sequence[PlannedCell], outcomes: dict[str, VantageOutcome], lab: Lab) -> list[Cell]:
    results: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for vantage, outcome in outcomes.items():
        if outcome.error:
            errors[vantage] = outcome.error
        for result in outcome.results:
            results[result["id"]] = result
    cells = []
    for i, p in enumerate(planned):
        result = results.get(str(i))
        if result is None:
            state, latency = "error", None
            detail = errors.get(p.vantage, "the agent returned no result for this probe")
        else:
            state, latency, detail = result.get("state", "error"), result.get("latency_ms"), result.get("detail")
        cells.append(Cell(
            vantage=p.vantage, target=p.target, proto=p.proto, kind=p.kind, address=p.address, port=p.port,
            state=state, expected=p.expected, verdict=verdict_for(state, p.accepted), latency_ms=latency,
            detail=detail, reason=p.reason, reproduce=reproduce_command(lab, p),
        ))
    return cells


def reproduce_command(lab: Lab, cell: PlannedCell) -> str:
    """Repeat this one probe on a lab left running by `looplab up`."""
    proto = f" --proto {cell.proto}" if cell.proto != "tcp" else ""
    return (f"looplab up {shlex.quote(lab.path)} && looplab probe --lab {lab.name} "
            f"--from {shlex.quote(cell.vantage)} {shlex.quote(cell.target)}{proto}")
