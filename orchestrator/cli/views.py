"""What the commands print: views over the answers of `session` and `ondemand`, drawn with rich.

Every view returns renderables; :func:`show` prints them. On a terminal they are coloured
and tables fit its width; on a pipe there is no colour and tables fit 120 columns. Either
way a fact is one line however long (greppable) and tables have no borders (columns split
on whitespace).
Addresses are written with :func:`host_port` (``[::1]:8081``) and processes with
:func:`owner_text`; nothing here formats either by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..addresses import host_port, owner_text
from ..report.terminal import text_console

if TYPE_CHECKING:
    from ..domain import Diagnosis
    from ..labfile.model import Lab
    from ..ondemand import ProbeAnswer, ResolveAnswer, ScanAnswer
    from ..runtime.base import LiveLab
    from ..runtime.state import MemberState

PIPE_WIDTH = 120
"""Lines on a pipe: wide, and the same on every machine, so saved output stays stable."""
FACT_LABEL_WIDTH = 11  # `diagnose` aligns its facts: "  detail:    ..."
FAIL, GOOD, DIM = "bold red", "green", "dim"


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def use_color() -> bool:
    """Colour exactly when stdout is a terminal and NO_COLOR is not set."""
    return stdout_is_terminal() and "NO_COLOR" not in os.environ


def width() -> int:
    """The terminal's width (COLUMNS wins) on a terminal; PIPE_WIDTH on a pipe."""
    return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns if stdout_is_terminal() else PIPE_WIDTH


def render(renderables: Iterable[RenderableType], *, color: bool, width: int) -> str:
    """The renderables as text; trailing blanks trimmed from every line."""
    console = text_console(width, color=color)
    for item in renderables:
        console.print(item, soft_wrap=isinstance(item, Text))  # a line of text never wraps
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def show(renderables: Iterable[RenderableType]) -> None:
    """Print the renderables on stdout, styled for where stdout goes."""
    click.echo(render(renderables, color=use_color(), width=width()), nl=False)


def json_text(document: Any) -> str:
    """A JSON document as every `--format json` prints it (indented, keys sorted)."""
    return json.dumps(document, indent=2, sort_keys=True)


def _state_style(state: str, verdict: str | None) -> str:
    if verdict not in (None, "pass"):
        return FAIL
    return GOOD if state in ("open", "ok") else ""


def _facts(pairs: Iterable[tuple[str, str | None]], *, label_width: int = 0) -> list[Text]:
    """`  label: value` lines for the pairs that have a value; labels padded to `label_width`."""
    return [
        Text.assemble("  ", (f"{label}:".ljust(label_width) if label_width else f"{label}: ", DIM), value)
        for label, value in pairs
        if value
    ]


class _Columns:
    """A borderless table sized when it is drawn: a header, then one line per row. Every column
    but the last keeps its full width (an address is never cut); the last one gets the rest of
    the line and is cut with `…` when it does not fit."""

    GAP = 3

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, first_style: str = "") -> None:
        self.headers, self.rows, self.first_style = headers, rows, first_style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        *fixed, last = self.headers
        widths = [max(cell_len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(fixed))]
        room = options.max_width - sum(widths) - self.GAP * len(fixed)
        table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, self.GAP, 0, 0), show_edge=False)
        for i, (name, fits) in enumerate(zip(fixed, widths)):
            table.add_column(name, no_wrap=True, width=fits, style=self.first_style if i == 0 else "")
        table.add_column(last, no_wrap=True, overflow="ellipsis", max_width=max(room, 5))
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: `[::1]` is never read as markup
        yield table


def _indented(table: _Columns) -> Padding:
    return Padding(table, (0, 0, 0, 2))


# ------------------------------------------------------------------ probe, diagnose


def _endpoint(answer: ProbeAnswer) -> str:
    """What was dialled: `[::1]:8081`, or the bare address for a ping."""
    cell = answer.cell
    return cell.address if answer.kind == "icmp" else host_port(cell.address, cell.port)


def probe_view(answer: ProbeAnswer) -> list[RenderableType]:
    """`peer -> web:8080 (http 10.0.0.2:8080): open in 0.31 ms`, what the probe said, the verdict."""
    r, cell = answer.result, answer.cell
    label = cell.target.rsplit(":", 1)[0] if answer.kind == "icmp" else cell.target
    head = Text.assemble(
        f"{answer.vantage} -> {label} ({answer.kind} {_endpoint(answer)}): ",
        (r.state, _state_style(r.state, answer.verdict)),
        f" in {r.latency_ms:.2f} ms" if r.latency_ms is not None else "",
    )
    said = [("status", r.status), ("banner", r.banner), ("detail", r.detail)]
    lines: list[RenderableType] = [head, *_facts((k, str(v).strip()[:200] if v else None) for k, v in said)]
    if answer.verdict is not None:
        verdict = Text(f"{cell.expected} ({answer.verdict})", style=_state_style(r.state, answer.verdict))
        lines.append(Text.assemble("  expected ", verdict, f": {cell.reason}"))
    return lines


def diagnose_view(answer: ProbeAnswer, found: Diagnosis | None) -> list[RenderableType]:
    """The probe's line, the model's reason, then cause, what was found and the fix."""
    r, cell = answer.result, answer.cell
    head = Text.assemble(
        f"{answer.vantage} -> {cell.target} ({answer.kind} {_endpoint(answer)}): ",
        (r.state, _state_style(r.state, answer.verdict)),
        f", expected {cell.expected} ({answer.verdict})" if answer.verdict else "",
    )
    facts: list[tuple[str, str | None]] = [("model", cell.reason), ("detail", r.detail)]
    if found is not None:
        facts += [("cause", found.cause), ("found", found.found), ("fix", found.fix)]
    else:
        facts += [("cause", "nothing unusual: the model explains this cell")]
    return [head, *_facts(facts, label_width=FACT_LABEL_WIDTH)]


# ------------------------------------------------------------------ resolve, sockets, scan


def resolve_view(answer: ResolveAnswer) -> list[RenderableType]:
    """`peer: web -> 10.0.0.2 (from dns); a plain client dials 10.0.0.2 first`, or why not."""
    if not answer.ok:
        return [Text(f"{answer.vantage}: {answer.name} does not resolve: {answer.detail}")]
    return [
        Text.assemble(
            f"{answer.vantage}: {answer.name} -> {', '.join(answer.addresses)} (from {answer.source}); ",
            "a plain client dials ",
            (answer.dial_order[0], "bold"),
            " first",
        )
    ]


def sockets_view(inventory: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[RenderableType]:
    """One row per listening socket: namespace, protocol, address:port, process (netstat -lp)."""
    rows = [
        (namespace, s["proto"], host_port(s["address"], s["port"]), owner_text(s) or "-")
        for namespace, socks in inventory.items()
        for s in socks
    ]
    empty = [ns for ns, socks in inventory.items() if not socks]
    out: list[RenderableType] = [_Columns(("NAMESPACE", "PROTO", "LISTENER", "PROCESS"), rows)] if rows else []
    if empty:
        out.append(Text(f"no listening socket in: {', '.join(empty)}", style=DIM))
    return out


def _open_rows(answer: ScanAnswer) -> list[tuple[str, str, str]]:
    """(port, listener, process) per open port and answering socket; `?` when nobody could look."""
    owners: dict[int, list[dict]] = {}
    for o in answer.owners or []:
        owners.setdefault(o["port"], []).append(o)
    rows = []
    for port in answer.open:
        if answer.owners is None:
            rows.append((str(port), "?", ""))
        elif port not in owners:
            rows.append((str(port), "-", ""))
        rows += [(str(port), host_port(o["address"], port), owner_text(o) or "-") for o in owners.get(port, [])]
    return rows


def scan_view(answer: ScanAnswer) -> list[RenderableType]:
    """The open ports first (with their listener and process), then the counts and the rest."""
    target = answer.target
    shown = target.text if target.text == target.address else f"{target.text} ({target.address})"
    total = answer.count("ports_total")
    out: list[RenderableType] = [
        Text(f"{answer.vantage} -> {shown}: tcp connect scan of {total} port(s) [{answer.ports}]")
    ]
    rows = _open_rows(answer)
    if rows:
        out.append(_indented(_Columns(("PORT", "LISTENER", "PROCESS"), rows, first_style=GOOD)))
        if answer.owners is None:
            out.append(Text("  (no socket inventory for this address's namespace: processes unknown)", style=DIM))
    else:
        out.append(Text("  no open port"))
    counts = (
        f"{len(answer.open)} open, {answer.count('closed_count')} closed, {answer.count('filtered_count')} filtered"
    )
    errors = sum(answer.errors.values())
    if errors:
        counts += f", {errors} error(s)"
    out.append(
        Text(
            f"{counts} · {answer.count('scanned')} of {total} port(s) in {answer.seconds:.2f}s "
            f"({answer.elapsed_s:.2f}s in all)",
            style="bold",
        )
    )
    if answer.filtered:
        more = answer.count("filtered_count") - min(len(answer.filtered), 20)
        listed = ", ".join(str(p) for p in answer.filtered[:20]) + (f" and {more} more" if more > 0 else "")
        reasons = "; ".join(f"{why}: {n}" for why, n in answer.filtered_reasons.items())
        out.append(Text(f"  filtered: {listed} ({reasons})"))
    out += [Text(f"  error: {why} ({n} port(s))", style=FAIL) for why, n in answer.errors.items()]
    if answer.unreachable:
        out.append(Text(f"  unreachable: {answer.unreachable}; the scan stopped", style=FAIL))
    if answer.count("self_connects"):
        out.append(Text(f"  ({answer.count('self_connects')} TCP self-connect(s) discarded and re-dialled)", style=DIM))
    return out


# ------------------------------------------------------------------ up


def up_view(live: LiveLab, observers: Sequence[str]) -> list[RenderableType]:
    """How to reach a lab left running: members with addresses and pids, published ports."""
    state, lab = live.state, live.lab
    out: list[RenderableType] = [
        Text.assemble(
            "lab ",
            (lab.name, "bold"),
            f" is up (run {state.run_id}); remove it with: looplab down {lab.name}",
        )
    ]
    members = [(m.name, m.container_name, str(m.pid), _where(m)) for m in state.members.values()]
    out.append(_indented(_Columns(("MEMBER", "CONTAINER", "PID", "ADDRESSES"), members)))
    published = [
        (host_port(p.host_ip, p.host_port), f"{p.service}:{p.container_port}/{p.proto}") for p in state.published
    ]
    if published:
        out.append(_indented(_Columns(("PUBLISHED", "TO"), published)))
    later = [o for o in observers if o not in state.members]
    if later:
        out.append(Text(f"  observers {', '.join(later)} start when a probe first needs them"))
    out.append(Text("  shell into a namespace: nsenter --net=/proc/PID/ns/net COMMAND", style=DIM))
    return out


def _where(member: MemberState) -> str:
    """A member's addresses (`lan 10.0.0.2`), or whose namespace it shares."""
    where = ", ".join(f"{net} {addr}" for net, addr in member.addresses.items())
    if where:
        return where
    return f"in {member.namespace}'s namespace" if member.namespace != member.name else "no network"


def validate_line(path: str, lab: Lab) -> Text:
    return Text(
        f"{path}: ok ({len(lab.services)} services, {len(lab.networks)} networks, "
        f"{len(lab.listeners)} listeners, {len(lab.expectations)} expectations)"
    )
