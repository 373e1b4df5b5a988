"""The data of an audit: findings with evidence and a fix, and the audit that holds them."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import Report
from ..runtime.foreign import ForeignContainer

LEVELS = ("info", "exposed", "broken")  # in order: `--fail-on exposed` fails on exposed and broken
FAIL_ON = (*LEVELS, "never")


@dataclass(frozen=True)
class Finding:
    """One thing the audit saw: what (`kind`), how bad (`level`), where, the evidence, the fix."""

    kind: str  # "published-all-interfaces", "publish-to-loopback", "undeclared-listener", ...
    level: str  # one of LEVELS
    service: str  # the member the finding is about
    target: str  # what is reached: "host:28080/tcp", "api:5678/tcp"
    title: str  # one line
    evidence: tuple[str, ...]  # cells and sockets as seen: "@outside -> host:28080/tcp: open"
    fix: str

    def at_least(self, level: str) -> bool:
        return level != "never" and LEVELS.index(self.level) >= LEVELS.index(level)


@dataclass(frozen=True)
class Socket:
    """A listening socket found in a member's namespace, with its owner where it can be read."""

    member: str
    proto: str
    address: str
    port: int
    process: str  # "pid 17 python3 serve ..." or ""


@dataclass(frozen=True)
class Audit:
    """What `looplab audit` read, probed and found; the matrix is the same `Report` `check` makes."""

    subject: str  # "project shop", "containers a, b", "every running container"
    containers: tuple[ForeignContainer, ...]
    findings: tuple[Finding, ...]
    report: Report
    observers: bool  # whether looplab's observers probed (`--no-observers` turns them off)
    sockets: tuple[Socket, ...] = ()  # every listening socket of every audited namespace

    def failing(self, fail_on: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.at_least(fail_on))

    def counts(self) -> dict[str, int]:
        return {level: sum(1 for f in self.findings if f.level == level) for level in LEVELS}
