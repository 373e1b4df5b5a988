"""Turn planned cells into agent batches (one per vantage) and results into judged cells."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from ipaddress import ip_address

from .domain import Cell, PlannedCell
from .labfile.model import Lab, ProbeSettings
from .probes.agent.kernel import NEIGHBOUR_FULL
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
    A cell a kernel limit may have forged (`suspect`) is probed again too, once the limit has passed.
    """
    return _probe_twice(planned, state, settings, launcher, lab)


NEIGHBOUR_AGE_S = 5.0  # the kernel evicts no neighbour entry younger than this (neigh_forced_gc)
ICMP_REFILL_S = 6 * 1.1  # the target kernel's ICMP bucket for one peer refills in 6 x icmp_ratelimit
SILENCES = frozenset({"open|filtered", "filtered"})  # what a UDP probe whose ICMP error was rate-limited sees
SUSPECT_ROUNDS = 5  # more probes of a cell still suspect after the first probe again


def _probe_twice(
    planned: Sequence[PlannedCell], state: LabState, settings: ProbeSettings, launcher: Launcher, lab: Lab
) -> list[Cell]:
    deadline = settings.timeout_s + settings.grace_s + 30.0

    def probe(cells: Sequence[PlannedCell]) -> list[Cell]:
        return judge(cells, launcher.run(batches_for(cells, state, settings), deadline_s=deadline), lab)

    with ExitStack() as quiet:  # no looplab run here creates a network meanwhile (runtime/quiet.py)
        quiet.enter_context(probing(state.engine))
        cells = probe(planned)
        again = [i for i, cell in enumerate(cells) if not cell.passed or cell.suspect]
        for _ in range(1 + SUSPECT_ROUNDS):
            if not again:
                break
            pause = pause_before_retry([cells[i] for i in again], [planned[i] for i in again])
            if pause:  # others may create networks while this run waits for a kernel limit to pass
                quiet.close()
                time.sleep(pause)
                quiet.enter_context(probing(state.engine))
            for i, cell in zip(again, probe([planned[i] for i in again])):
                cells[i] = combine(cells[i], cell)
            again = [i for i in again if cells[i].suspect]
    return [distrust(cell) for cell in cells]


def pause_before_retry(cells: Sequence[Cell], planned: Sequence[PlannedCell]) -> float:
    """How long to wait before probing `cells` again so the kernel limits that may have forged
    them no longer apply: the neighbour table's eviction age; the ICMP bucket's refill where a
    forged silence would pass; else 0."""
    pause = 0.0
    if any(c.suspect and c.suspect.startswith(NEIGHBOUR_FULL) for c in cells):
        pause = NEIGHBOUR_AGE_S
    if any(p.probe == "udp" and p.accepted & SILENCES and not ip_address(p.address).is_loopback for p in planned):
        # a silence would pass there; a fresh agent's ICMP budget (agent/kernel.py) starts full: so must the kernel's
        pause = max(pause, ICMP_REFILL_S)
    return pause


def observation(cell: Cell) -> str:
    """One probe's result as listed under the matrix: `open (detail)`, with why it is suspect."""
    said = "; ".join(x for x in (cell.detail, cell.suspect) if x)
    return f"{cell.state} ({said})" if said else cell.state


def combine(first: Cell, second: Cell) -> Cell:
    """The verdict of a cell probed again (the first probe failed or is suspect); every observation is kept.

    An observation a kernel limit may have forged (`suspect`) never decides: the other does, and
    if both are suspect the later one stands, still suspect (see `distrust`)."""
    seen = (*(first.observations or (observation(first),)), observation(second))
    both = f"the first probe saw {seen[0]}; a second saw {seen[-1]}"
    if len(seen) > 2:
        both = f"probes saw {'; then '.join(seen)}"
    if first.suspect and not second.suspect:
        return replace(second, observations=seen, detail=f"{both} (judged on the last: the earlier were suspect)")
    if second.suspect:
        stands = second if first.suspect else first
        judged = "neither: both are suspect" if first.suspect else "the first: the second is suspect"
        return replace(stands, observations=seen, detail=f"{both} (judged on {judged})")
    if first.verdict == "exposed" or second.verdict == "exposed":
        stands = first if first.verdict == "exposed" else second
        return replace(stands, observations=seen, detail=f"exposed: {both} (a leak seen once is a leak)")
    if second.passed:
        return replace(second, verdict="flaky", observations=seen, detail=f"flaky: {both}")
    return replace(first, observations=seen, detail=f"{first.detail + '; ' if first.detail else ''}{both}")


def distrust(cell: Cell) -> Cell:
    """A cell still suspect is not judged on what it saw: it fails (broken if open was expected),
    its state and observations as seen; the diagnosis names the kernel limit."""
    if not cell.suspect or cell.verdict not in ("pass", "flaky"):
        return cell
    return replace(cell, verdict="broken" if cell.expected == "open" else "mismatch")


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
        cell = p.observed(state, latency_ms=latency, detail=detail, reproduce=reproduce_command(lab, p))
        cells.append(replace(cell, suspect=result.suspect) if result is not None and result.suspect else cell)
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
