"""A running lab held open by this process: probe cells one by one and the whole matrix, then remove it.

The pytest plugin (`orchestrator/pytest_plugin/`) and the testcontainers bridge
(`orchestrator/testcontainers.py`) both work through `OpenLab`; the CLI's one-shot commands
attach to a lab `up` left instead (`ondemand/`). See docs/ARCHITECTURE.md, "In-process labs".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .diagnosis.finder import FactFinder
from .diagnosis.rules import diagnose as explain_cell
from .discovery import with_discovered
from .domain import Diagnosis, Report
from .errors import LooplabError, ReadinessError
from .labfile.model import STATES, Expectation, Lab, Listener
from .live_reads import LiveReads
from .ondemand.probe import ProbeAnswer, probe_live
from .probes.launchers import Launcher
from .readiness import take_inventory, wait_ports
from .runtime import LiveLab
from .runtime.interrupts import signals_deferred
from .session import RunOptions, finish, probe_matrix, start


@dataclass
class ProbeOutcome:
    """One probe from a vantage to a target: what was seen and, when it is not what the model
    expects, why (the diagnosis is read on first use, while the lab still runs)."""

    vantage: str
    target: str
    state: str
    expected: str | None  # None where the model has no expectation for this cell
    verdict: str | None
    detail: str | None
    reproduce: str
    _explain: Any = field(default=None, repr=False, compare=False)
    _diagnosis: Diagnosis | None = field(default=None, repr=False, compare=False)

    @property
    def reachable(self) -> bool:
        """True when the connection was accepted and held (`open`)."""
        return self.state == "open"

    @property
    def diagnosis(self) -> Diagnosis | None:
        """Why the cell is what it is (cause, found, fix); read from the running lab once."""
        if self._explain is not None:
            self._diagnosis, self._explain = self._explain(), None
        return self._diagnosis

    def __repr__(self) -> str:
        text = f"<{self.vantage} -> {self.target}: {self.state}"
        if self.expected:
            text += f", expected {self.expected} ({self.verdict})"
        if self.detail:
            text += f"; {self.detail}"
        found = self.diagnosis
        if found is not None:
            text += f"; {found.cause}: {found}"
        return text + f"; reproduce: {self.reproduce}>"


class OpenLab:
    """A lab running for this process (`start`, `attach` or `adopt`) and the launcher that enters it."""

    def __init__(self, live: LiveLab, launcher: Launcher, opts: RunOptions, *, owner: bool, shown: str) -> None:
        self.live = live
        self.launcher = launcher
        self.opts = opts
        self.owner = owner  # this process removes the lab when it closes it
        self.shown = shown  # the name a person uses for it (`looplab up FILE` names it so)
        self.closed = False
        self.adopted: tuple[Lab, tuple[Expectation, ...]] | None = None  # the model as adopted, and pins

    # -- opening ------------------------------------------------------------------
    @classmethod
    def start(cls, path: str, opts: RunOptions) -> OpenLab:
        """Start the lab file at `path`, ready (every declared listener listens)."""
        live, launcher = start(path, opts)
        shown = live.lab.name.removesuffix(f"-{opts.name_suffix}") if opts.name_suffix else live.lab.name
        return cls(live, launcher, opts, owner=True, shown=shown)

    @classmethod
    def attach(cls, run_id: str, opts: RunOptions, *, shown: str | None = None) -> OpenLab:
        """A lab another process started and shares (its run id); this process never removes it."""
        live = opts.make_runtime().attach(None, run_id)
        launcher = opts.make_launcher(live)
        lab = cls(live, launcher, opts, owner=False, shown=shown or live.lab.name)
        try:
            take_inventory(live.state, launcher, live.state.all_namespaces())
            live.lab = with_discovered(live.lab, live.state)
        except BaseException:
            lab.close()
            raise
        return lab

    @classmethod
    def adopt(
        cls,
        name: str,
        members: Mapping[str, str],
        networks: Iterable[str] = (),
        opts: RunOptions | None = None,
        *,
        expect: Iterable[Any] = (),
        observers: bool = True,
        ready_timeout_s: float = 30.0,
        require_listening: bool = True,
    ) -> OpenLab:
        """Containers something else started, as a lab: listeners are read from their sockets and
        taken as declared (the model derives who should reach them); `expect` pins cells. Ports the
        containers expose or publish are waited for (at most `ready_timeout_s`): nobody declared them.
        Without `require_listening` a port still silent then is a warning of the lab, not an error."""
        opts = opts or RunOptions()
        live = opts.make_runtime().adopt(name, dict(members), list(networks), observers=observers)
        try:
            launcher = opts.make_launcher(live)
        except BaseException:
            with signals_deferred():
                live.handle.teardown()
            raise
        lab = cls(live, launcher, opts, owner=True, shown=name)
        try:
            pinned = expectations(expect, live.lab)
            wanted = {
                live.state.namespace_of(s.name): {(p, "tcp") for p in s.expose}
                | {(p.container_port, p.proto) for p in s.ports}
                for s in live.lab.services
                if not s.is_host_mode
            }
            missing = wait_ports(live.state, launcher, wanted, timeout_s=ready_timeout_s)
            if missing and require_listening:
                raise ReadinessError(f"not listening after {ready_timeout_s:g}s: {', '.join(missing)}")
            if missing:
                live.warnings.append(f"exposed or published but not listening: {', '.join(missing)}")
            lab.adopted = live.lab, pinned
            lab.rediscover()
        except BaseException:
            lab.close()
            raise
        return lab

    # -- using --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.live.lab.name

    def probe(self, vantage: str, target: str, kind: str = "tcp") -> ProbeOutcome:
        """Dial `target` from inside `vantage` as the matrix would; judged against the model."""
        self._usable()
        answer = probe_live(self.live, self.launcher, vantage, target, kind)
        return ProbeOutcome(
            vantage=vantage,
            target=answer.cell.target,
            state=answer.result.state,
            expected=answer.cell.expected or None,
            verdict=answer.verdict,
            detail=answer.result.detail,
            reproduce=self._reproduce(vantage, answer),
            _explain=lambda: self._explain(answer) if answer.verdict not in (None, "pass") else None,
        )

    def wait_listening(self, member: str, port: int, proto: str = "tcp", *, timeout_s: float = 10.0) -> bool:
        """Wait until something listens on `port` in `member`'s namespace (any address); False after
        `timeout_s`. For containers whose listeners nobody declared (testcontainers)."""
        self._usable()
        wanted = {self.live.state.namespace_of(member): {(port, proto)}}
        listening = not wait_ports(self.live.state, self.launcher, wanted, timeout_s=timeout_s)
        if self.adopted is not None:
            self.rediscover()
        return listening

    def rediscover(self) -> None:
        """Read every namespace's sockets again; an adopted lab's model follows what listens now."""
        self._usable()
        take_inventory(self.live.state, self.launcher, self.live.state.all_namespaces())
        if self.adopted is None:
            self.live.lab = with_discovered(self.live.lab, self.live.state)
            return
        base, pinned = self.adopted
        self.live.lab = _declared(with_discovered(base, self.live.state), pinned)

    def matrix(self) -> Report:
        """Probe the whole matrix now; failing cells diagnosed."""
        self._usable()
        report = probe_matrix(self.live, self.launcher, self.opts)
        if self.shown == self.name:
            return report
        cells = tuple(replace(c, reproduce=self._shown(c.reproduce)) for c in report.cells)
        return replace(report, cells=cells)

    def close(self) -> None:
        """Remove the launcher's helpers and, if this process owns the lab, the lab. Safe twice."""
        if self.closed:
            return
        self.closed = True
        if self.owner:
            finish(self.live, self.launcher, self.opts)
            return
        with signals_deferred():
            self.launcher.close()

    def __enter__(self) -> OpenLab:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- inside -------------------------------------------------------------------
    def _usable(self) -> None:
        if self.closed:
            raise LooplabError(f"lab {self.name} was already removed")

    def _explain(self, answer: ProbeAnswer) -> Diagnosis | None:
        if self.closed:
            return None
        p, r = answer.cell, answer.result
        cell = p.observed(r.state, verdict=answer.verdict or "pass", latency_ms=r.latency_ms, detail=r.detail)
        finder = FactFinder(LiveReads(self.live, self.launcher), self.live.lab, self.live.state)
        return explain_cell(finder.facts_for(p, cell))

    def _reproduce(self, vantage: str, answer: ProbeAnswer) -> str:
        proto = f" --proto {answer.kind}" if answer.kind != "tcp" else ""
        return self._shown(
            f"looplab up {self.live.lab.path} && looplab probe --lab {self.name} "
            f"--from {vantage} {answer.cell.target}{proto}"
        )

    def _shown(self, command: str | None) -> str:
        return (command or "").replace(f"--lab {self.name} ", f"--lab {self.shown} ")


def failure_text(report: Report) -> str:
    """Every failing cell with its rule, diagnosis and reproduce command, as an assertion message."""
    s = report.summary
    lines = [
        f"lab {report.lab}: {s.failed} of {s.cells} cells not as expected "
        f"({s.exposed} exposed, {s.broken} broken, {s.failed - s.exposed - s.broken} mismatch)"
    ]
    for c in report.cells:
        if c.passed:
            continue
        lines.append(f"  {c.vantage} -> {c.target}/{c.proto}: {c.state}, expected {c.expected} [{c.verdict}]")
        if c.detail:
            lines.append(f"      seen: {c.detail}")
        if c.reason:
            lines.append(f"      rule: {c.reason}")
        if c.diagnosis is not None:
            lines.append(f"      diagnosis ({c.diagnosis.cause}): {c.diagnosis.found}")
            lines.append(f"      fix: {c.diagnosis.fix}")
        if c.reproduce:
            lines.append(f"      reproduce: {c.reproduce}")
    return "\n".join(lines)


def expectations(entries: Iterable[Any], lab: Lab) -> tuple[Expectation, ...]:
    """Expectations given in Python: `(from, to, state)` tuples or lab-file style dicts
    (`{"from": ..., "to": ..., "state": ...}` or `"reachable": bool`, optional `"proto"`)."""
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            vantage, target = entry.get("from"), entry.get("to")
            state, reachable, proto = entry.get("state"), entry.get("reachable"), entry.get("proto", "tcp")
        else:
            vantage, target, state = entry
            reachable, proto = None, "tcp"
        if not vantage or not target or (state is None and reachable is None):
            raise LooplabError(f"expectation {entry!r}: give from, to and state (or reachable)")
        if state is not None and state not in STATES:
            raise LooplabError(f"expectation {entry!r}: unknown state {state!r} ({', '.join(STATES)})")
        if proto not in ("tcp", "udp"):
            raise LooplabError(f"expectation {entry!r}: protocol {proto!r} is not supported (tcp or udp)")
        out.append(Expectation(str(vantage), str(target), state, proto, reachable=reachable))
    return tuple(out)


def _declared(lab: Lab, expect: tuple[Expectation, ...]) -> Lab:
    """An adopted lab's listeners count as declared: the model derives who should reach them."""
    services = tuple(replace(s, listeners=tuple(_as_declared(x) for x in s.listeners)) for s in lab.services)
    return replace(lab, services=services, expectations=expect)


def _as_declared(listener: Listener) -> Listener:
    scheme = "udp" if listener.scheme == "udp" else "tcp"
    return replace(listener, scheme=scheme, discovered=False)


__all__ = ["OpenLab", "ProbeOutcome", "expectations", "failure_text"]
