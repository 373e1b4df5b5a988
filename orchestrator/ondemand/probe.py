"""One probe (and its diagnosis) on a running lab, judged against the model like a matrix cell."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..diagnosis.finder import FactFinder
from ..diagnosis.rules import diagnose as explain_cell
from ..domain import Diagnosis, PlannedCell, Verdict, verdict_for
from ..engine_rules import refuse_host_dial
from ..errors import LooplabError
from ..live_reads import LiveReads
from ..plan import cell_for_target, lookup, plan, published_target
from ..probes.launchers import Launcher
from ..probes.protocol import ProbeResult, ProbeSpec
from ..runtime.base import LiveLab
from .attach import check_vantage, open_lab, run_one

_PUBLISHED = re.compile(r"^host:[A-Za-z0-9][A-Za-z0-9_.-]*:\d{1,5}$")
_TARGET = re.compile(r"^(?P<name>\[::1\]|127\.0\.0\.1|[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class ProbeAnswer:
    """One probe of a running lab: the cell as the model plans it, what was seen, and the verdict."""

    vantage: str
    kind: str  # the probe kind asked for: tcp, udp, http, icmp
    cell: PlannedCell
    result: ProbeResult
    verdict: Verdict | None  # None when the model has no expectation for this cell (or the kind is not judged)

    @property
    def failed(self) -> bool:
        """The model expected something else (exit 1)."""
        return self.verdict not in (None, "pass")


def parse_target(text: str, kind: str, live: LiveLab) -> str:
    """Normalise TARGET (NAME[:PORT]); the port may be left out only for icmp."""
    if _PUBLISHED.match(text) and text.split(":")[1] in {s.name for s in live.lab.services}:
        text = published_target(text, "udp" if kind == "udp" else "tcp", live.state)  # host:SERVICE:P
    m = _TARGET.match(text)
    if not m:
        raise LooplabError(
            f"target {text!r}: write 127.0.0.1:P, [::1]:P, localhost:P, SERVICE:P, host:P or host:SERVICE:P"
        )
    name, port = m.group("name"), m.group("port")
    if name not in ("127.0.0.1", "[::1]", "host", "localhost") and name not in {s.name for s in live.lab.services}:
        raise LooplabError(f"target {text!r}: no service {name!r} in lab {live.lab.name}")
    if port is None:
        if kind != "icmp":
            raise LooplabError(f"target {text!r}: a port is needed for --proto {kind}")
        port = "0"
    if not 0 <= int(port) <= 65535 or (kind != "icmp" and int(port) == 0):
        raise LooplabError(f"target {text!r}: port {port} is out of range (1-65535)")
    return f"{name}:{int(port)}"


def probe(
    lab_name: str | None, vantage: str, target: str, kind: str, launcher: str = "auto", *, lan: bool = False
) -> ProbeAnswer:
    """Dial one target from one vantage, the way the matrix would, and judge it against the model
    (`lan`: make the LAN neighbour `@neighbour` for this command)."""
    with open_lab(lab_name, launcher, (vantage,), lan=lan) as (live, launch):
        return probe_live(live, launch, vantage, target, kind)


def probe_live(live: LiveLab, launcher: Launcher, vantage: str, target: str, kind: str) -> ProbeAnswer:
    """One probe of a lab this process holds open (`inprocess.OpenLab`, the commands below)."""
    check_vantage(live, vantage)
    target = parse_target(target, kind, live)
    proto = "udp" if kind == "udp" else "tcp"
    cell = lookup(plan(live.lab, live.state), vantage, target, proto) or cell_for_target(
        vantage, target, proto, live.lab, live.state
    )
    settings = live.lab.probe
    spec = ProbeSpec(
        id="0",
        kind=kind,
        address=cell.address,
        port=cell.port if kind != "icmp" else None,
        timeout=settings.timeout_s,
        grace=settings.grace_s,
    )
    refuse_host_dial(live.state, vantage, cell.address)
    result = run_one(live.state, launcher, vantage, spec, settings.timeout_s + 30)
    if kind in ("tcp", "udp"):  # a name that does not resolve there: what an app dialling it sees
        state, detail = cell.as_dialled(result.state, result.detail)
        result = replace(result, state=state, detail=detail)
    judged = kind in ("tcp", "udp") and bool(cell.accepted)
    return ProbeAnswer(vantage, kind, cell, result, verdict_for(result.state, cell.accepted) if judged else None)


def diagnose(
    lab_name: str | None, vantage: str, target: str, kind: str, launcher: str = "auto", *, lan: bool = False
) -> tuple[ProbeAnswer, Diagnosis | None]:
    """Probe one cell and explain why it is what it is (even when it passes)."""
    with open_lab(lab_name, launcher, (vantage,), lan=lan) as (live, launch):
        answer = probe_live(live, launch, vantage, target, kind)
        p, r = answer.cell, answer.result
        cell = p.observed(r.state, verdict=answer.verdict or "pass", latency_ms=r.latency_ms, detail=r.detail)
        return answer, explain_cell(FactFinder(LiveReads(live, launch), live.lab, live.state).facts_for(p, cell))
