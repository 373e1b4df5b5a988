"""The domain: a cell to probe, the cell once probed with its verdict and diagnosis, and the
report of a run. Data only.

The planner, the prober, the diagnosis and every renderer read these types; none of them
is owned by a renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["pass", "flaky", "exposed", "broken", "mismatch"]
TargetKind = Literal["loopback", "network", "published", "explicit"]


@dataclass(frozen=True)
class Diagnosis:
    """Why a cell is what it is: a short cause code, what was found, and a fix."""

    cause: str  # "bound-to-loopback", "firewall", ...
    found: str
    fix: str

    def __str__(self) -> str:
        return f"{self.found} Fix: {self.fix}"


@dataclass(frozen=True)
class Cell:
    """One (vantage, target, protocol) probe: what was seen next to what the lab expects."""

    vantage: str  # "host", a service, "@NET", "@outside"
    target: str  # as a person writes it: "127.0.0.1:62893", "app:62893", "host:62894"
    proto: str  # "tcp" | "udp"
    target_kind: TargetKind
    address: str  # the address actually dialled
    port: int
    state: str  # observed: open / closed / reset / filtered / open|filtered / unreachable / error
    expected: str  # the expected state (shown); `accepted` may allow equivalents
    verdict: Verdict
    latency_ms: float | None = None
    detail: str | None = None  # error text from the probe, if any
    diagnosis: Diagnosis | None = None  # why, for a failing cell
    reproduce: str | None = None  # a command that repeats this probe
    reason: str | None = None  # which rule of the isolation model set `expected`
    observations: tuple[str, ...] = ()  # every probe of a cell probed more than once, in order: "state (detail)"
    suspect: str | None = None  # "CAUSE: why": a kernel limit may have forged `state`; never a pass on it alone

    @property
    def passed(self) -> bool:
        """The cell ends as expected: a pass, or a flaky cell (failed once, then passed)."""
        return self.verdict in ("pass", "flaky")

    @property
    def flaky(self) -> bool:
        return self.verdict == "flaky"

    @property
    def cause(self) -> str | None:
        """The diagnosis's short code ("bound-to-loopback", "firewall", ...), if there is one."""
        return self.diagnosis.cause if self.diagnosis else None


@dataclass(frozen=True)
class PlannedCell:
    """One cell to probe: what to dial from where, what the model expects and why."""

    vantage: str
    target: str
    proto: str
    target_kind: TargetKind
    address: str
    port: int
    expected: str
    accepted: frozenset[str]
    reason: str
    target_ns: str | None = None  # namespace whose sockets answer; None for host:P (its proxy) or a ping; by plan()
    probe: str = ""  # the agent's probe kind: tcp / udp / icmp, or http for an http listener; set by plan()
    unresolved: str | None = None  # "store does not resolve from web; its address 172.x.y.z on back"

    def __post_init__(self) -> None:
        if not self.probe:  # until plan() knows better: the protocol's own probe
            object.__setattr__(self, "probe", self.proto if self.proto in ("udp", "icmp") else "tcp")

    def as_dialled(self, state: str, detail: str | None) -> tuple[str, str | None]:
        """What an app dialling the target by name sees, given what the address probe saw.

        Where the name does not resolve from the vantage the app gets no address at all:
        `unreachable`, with the address probe in the detail; an open address stays open (exposed:
        isolation that rests only on DNS is a leak)."""
        if self.unresolved is None or state == "open":
            return state, detail
        return "unreachable", f"{self.unresolved}: {state}" + (f" ({detail})" if detail else "")

    def observed(
        self,
        state: str,
        *,
        verdict: Verdict | None = None,
        latency_ms: float | None = None,
        detail: str | None = None,
        reproduce: str | None = None,
    ) -> Cell:
        """The Cell this plan became once probed: `state` judged against `accepted` unless `verdict` is given."""
        return Cell(
            vantage=self.vantage,
            target=self.target,
            proto=self.proto,
            target_kind=self.target_kind,
            address=self.address,
            port=self.port,
            state=state,
            expected=self.expected,
            verdict=verdict or verdict_for(state, self.accepted),
            latency_ms=latency_ms,
            detail=detail,
            reason=self.reason,
            reproduce=reproduce,
        )


@dataclass(frozen=True)
class Summary:
    cells: int
    passed: int
    failed: int
    exposed: int
    broken: int
    flaky: int = 0  # passed on a later probe after failing (not counted in `passed`)


@dataclass(frozen=True)
class Engine:
    """The engine a report was measured on: what decides which isolation rules hold there."""

    kind: str  # "docker"
    version: str
    api_version: str = ""
    os_type: str = ""  # "linux", "windows"
    desktop: bool = False  # Docker Desktop (the engine lives in a VM)
    rootless: bool | None = None  # None: not read
    userland_proxy: bool | None = None  # docker-proxy for published ports; None: unknown (a remote engine)
    firewall_backend: str = ""  # "iptables (nf_tables)", "iptables (legacy)", "nftables"; "" unknown
    cgroup_version: str = ""
    local: bool | None = None  # the engine runs on this machine (its pids are ours to see)
    address: str = ""  # where the client connects

    @property
    def major(self) -> int:
        """The engine's major version (20 for 20.10.24+dfsg1); 0 when unreadable."""
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0


@dataclass(frozen=True)
class Report:
    lab: str
    engine: Engine
    cells: tuple[Cell, ...]
    run_id: str | None = None
    duration_s: float | None = None
    warnings: tuple[str, ...] = field(default=())
    launcher: str = ""  # the launcher that probed, and why: "setns: entered app's namespace"

    @property
    def summary(self) -> Summary:
        failed = [c for c in self.cells if not c.passed]
        flaky = sum(c.flaky for c in self.cells)
        return Summary(
            cells=len(self.cells),
            passed=len(self.cells) - len(failed) - flaky,
            failed=len(failed),
            exposed=sum(c.verdict == "exposed" for c in failed),
            broken=sum(c.verdict == "broken" for c in failed),
            flaky=flaky,
        )

    @property
    def ok(self) -> bool:
        """No cell failed (flaky cells pass; `ok_strict` counts them as failures)."""
        return all(c.passed for c in self.cells)

    @property
    def ok_strict(self) -> bool:
        """No cell failed and none was flaky (`check --strict`)."""
        return all(c.verdict == "pass" for c in self.cells)


def verdict_for(observed: str, accepted: frozenset[str]) -> Verdict:
    """pass if observed is accepted; exposed if open but not allowed; broken if open expected."""
    if observed in accepted:
        return "pass"
    if observed == "open":
        return "exposed"
    if "open" in accepted:
        return "broken"
    return "mismatch"
