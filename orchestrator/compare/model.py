"""What `looplab compare` found: for each placement of the same listeners, the state seen from
each vantage, with the model's expectation beside it. Data only; layout is render.py's job."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain import Engine

COLUMNS = ("itself", "host", "peer", "other network", "@outside")


@dataclass(frozen=True)
class CompareCell:
    """One listener of one placement, dialled from one vantage."""

    listener: str  # the listener's URL as given, e.g. tcp://127.0.0.1:62893
    column: str  # one of COLUMNS
    state: str | None  # observed; None when nothing was dialled (`note` says why)
    expected: str | None = None  # the model's expectation, when it has one
    verdict: str | None = None  # pass / exposed / broken / flaky (None: no expectation)
    vantage: str | None = None  # the lab member (or host) it was probed from
    target: str | None = None  # what was dialled, e.g. host:49153 or app:8080
    note: str | None = None  # why nothing was dialled, or the probe's detail


@dataclass(frozen=True)
class CompareRow:
    placement: str
    how: str  # how the listeners run there, e.g. "bridge container, published on 127.0.0.1"
    lesson: str
    cells: tuple[CompareCell, ...]
    skipped: str | None = None  # why this placement was not run on this engine

    def cell(self, listener: str, column: str) -> CompareCell | None:
        return next((c for c in self.cells if c.listener == listener and c.column == column), None)


@dataclass(frozen=True)
class Comparison:
    """Every placement of `listeners` on one engine."""

    context: str  # the engine it ran on: a context name or a DOCKER_HOST URL ("default": the environment's)
    engine: Engine | None
    launcher: str | None
    listeners: tuple[str, ...]
    rows: tuple[CompareRow, ...]
    warnings: tuple[str, ...] = ()
    service: str | None = None  # with a lab file: the service whose listeners these are
    duration_s: float = 0.0


@dataclass(frozen=True)
class CompareReport:
    """One comparison per engine (`--context`), and the cells in which they differ."""

    comparisons: tuple[Comparison, ...]
    differences: tuple[tuple[str, str, str, str], ...] = field(default=())  # (service, placement, listener, column)

    @classmethod
    def of(cls, comparisons: list[Comparison]) -> CompareReport:
        return cls(tuple(comparisons), tuple(differences(comparisons)))


def differences(comparisons: list[Comparison]) -> list[tuple[str, str, str, str]]:
    """The cells (service, placement, listener, column) whose state differs between engines."""
    if len({c.context for c in comparisons}) < 2:
        return []
    states: dict[tuple[str, str, str, str], set[str | None]] = {}
    for comp in comparisons:
        for row in comp.rows:
            for cell in row.cells:
                key = (comp.service or "", row.placement, cell.listener, cell.column)
                states.setdefault(key, set()).add(cell.state if not row.skipped else f"skipped: {row.skipped}")
    return sorted(key for key, seen in states.items() if len(seen) > 1)
