"""Shared, renderer-neutral layout of a Report: row and column order, cell text, summary line.

Pure functions over the model; no rich, no markup. Every renderer lays out the same matrix.
"""

from __future__ import annotations

from typing import NamedTuple

from ..addresses import host_port
from ..domain import Cell, Report

KIND_ORDER: tuple[str, ...] = ("loopback", "network", "published", "explicit")
NOT_PROBED = "·"
NOT_EQUAL = "≠"
FLAKY_MARK = "~"
ORDINALS = ("first", "second", "third")


class Column(NamedTuple):
    """One matrix column: a target dialled with one protocol."""

    target: str
    proto: str
    target_kind: str

    @property
    def label(self) -> str:
        """The header as a person reads it: the target, plus the protocol when not tcp."""
        return self.target if self.proto == "tcp" else f"{self.target}/{self.proto}"


def _vantage_rank(vantage: str) -> int:
    if vantage == "host":
        return 0
    if vantage == "@outside":
        return 3
    if vantage == "@neighbour":  # the LAN neighbour (`--lan`), last
        return 4
    if vantage.startswith("@"):
        return 2
    return 1


def rows(report: Report) -> list[str]:
    """Vantages: host, services (first seen), @NET observers (first seen), @outside, @neighbour."""
    seen = list(dict.fromkeys(c.vantage for c in report.cells))
    return sorted(seen, key=_vantage_rank)  # stable: first-seen order within a group


def columns(report: Report) -> list[Column]:
    """Distinct (target, proto) in first-seen order, grouped by the kind of their first cell."""
    first: dict[tuple[str, str], Column] = {}
    for c in report.cells:
        first.setdefault((c.target, c.proto), Column(c.target, c.proto, c.target_kind))
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(first.values(), key=lambda col: rank.get(col.target_kind, len(rank)))


def grid(report: Report) -> dict[tuple[str, Column], Cell]:
    """(vantage, column) -> cell; the first cell wins if a pair was probed twice."""
    out: dict[tuple[str, Column], Cell] = {}
    cols = {(col.target, col.proto): col for col in columns(report)}
    for c in report.cells:
        out.setdefault((c.vantage, cols[(c.target, c.proto)]), c)
    return out


def ordered_cells(report: Report) -> list[Cell]:
    """Every cell in matrix reading order: row by row, column by column."""
    g, cols = grid(report), columns(report)
    return [g[(v, col)] for v in rows(report) for col in cols if (v, col) in g]


def failing(report: Report) -> list[Cell]:
    """Failing cells in matrix reading order."""
    return [c for c in ordered_cells(report) if not c.passed]


def flaky(report: Report) -> list[Cell]:
    """Flaky cells (failed, then passed when probed again) in matrix reading order."""
    return [c for c in ordered_cells(report) if c.flaky]


def observations(cell: Cell) -> list[tuple[str, str]]:
    """Each probe of a cell probed more than once, as (label, text): ("first probe", "filtered")."""
    return [
        (f"{ORDINALS[i] if i < len(ORDINALS) else str(i + 1)} probe", text) for i, text in enumerate(cell.observations)
    ]


def marker(cell: Cell) -> str:
    """The verdict as a loud word for a failing cell ("EXPOSED"), empty for a pass."""
    return "" if cell.passed else cell.verdict.upper()


def cell_text(cell: Cell) -> str:
    """`open` for a pass; `open ~ flaky` for a flaky cell; `open ≠ closed` (observed ≠ expected) for a failure."""
    if cell.flaky:
        return f"{cell.state} {FLAKY_MARK} flaky"
    return cell.state if cell.passed else f"{cell.state} {NOT_EQUAL} {cell.expected}"


def failure_facts(cell: Cell) -> list[tuple[str, str]]:
    """What a failure block lists, as (label, text): detail, reason, then the diagnosis's cause, found, fix."""
    d = cell.diagnosis
    facts = [("detail", cell.detail), *observations(cell), ("reason", cell.reason)]
    facts += [("cause", d.cause), ("found", d.found), ("fix", d.fix)] if d else []
    return [(label, text) for label, text in facts if text]


def endpoint(cell: Cell) -> str:
    """The address actually dialled, `[v6]:port` for IPv6."""
    return host_port(cell.address, cell.port)


def format_duration(seconds: float) -> str:
    """`0.84s`, `12.3s`, `2m05s`."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s"


def summary_line(report: Report) -> str:
    """`6 cells · 6 pass · 0 fail (0 exposed, 0 broken)`, `· 1 flaky` after the passes when a cell was
    flaky, plus `· 1.20s` if the duration is known."""
    s = report.summary
    flaky_part = f" · {s.flaky} flaky" if s.flaky else ""
    line = f"{s.cells} cells · {s.passed} pass{flaky_part} · {s.failed} fail ({s.exposed} exposed, {s.broken} broken)"
    if report.duration_s is not None:
        line += f" · {format_duration(report.duration_s)}"
    return line


def engine_line(report: Report) -> str:
    """`docker 28.2.2`."""
    return f"{report.engine.kind} {report.engine.version}".strip()


def engine_facts(report: Report) -> list[tuple[str, str]]:
    """The engine context every format shows: (name, value), unknowns left out."""
    e = report.engine
    facts = [
        ("api", e.api_version),
        ("os", e.os_type + (" (Docker Desktop)" if e.desktop else "")),
        ("mode", {True: "rootless", False: "rootful", None: ""}[e.rootless]),
        ("userland-proxy", {True: "on", False: "off", None: ""}[e.userland_proxy]),
        ("firewall", e.firewall_backend),
        ("cgroup", f"v{e.cgroup_version}" if e.cgroup_version else ""),
        ("engine", {True: "local", False: f"remote ({e.address})" if e.address else "remote", None: ""}[e.local]),
        ("launcher", report.launcher),
    ]
    return [(name, value) for name, value in facts if value]


def context_line(report: Report) -> str:
    """`api 1.41 · os linux · mode rootful · … · launcher setns: …` (one line)."""
    return " · ".join(f"{name} {value}" for name, value in engine_facts(report))
