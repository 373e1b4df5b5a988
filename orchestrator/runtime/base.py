"""The runtime contract: everything a session needs from an engine, and the running lab it gets back.

A runtime turns a `Lab` into containers (or tasks, or pods) on one engine and reads back
what the engine made (`LabState`). Docker's SDK runtime lives in `runtime/docker/`; a
Compose, Swarm or Kubernetes runtime implements the same two protocols. Nothing outside a
runtime's own package imports its engine client. See docs/ARCHITECTURE.md.

Vocabulary shared by every runtime:
- a *member* is a service or an observer (`@NET`, `@outside`) of one run, keyed by its lab name;
- a *namespace* is named by the member that owns it, or `host`;
- every resource a run makes carries the labels of `runtime/labels.py`, so `gc` can find it
  after a hard kill, whichever runtime made it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..domain import Engine
from ..labfile.model import Lab
from .foreign import ForeignContainer, Selection
from .state import LabState, NetworkEvent

Progress = Callable[[str], None]


EngineInfo = Engine  # the domain's record of an engine, filled in by a runtime


@dataclass(frozen=True)
class MemberStatus:
    """Whether a member's process still runs, and how it ended if it does not."""

    running: bool
    exit_code: int | None = None
    last_log_line: str = ""


@dataclass(frozen=True)
class Leftover:
    """A resource a cleanup could not remove, and why (in the engine's words where it has them)."""

    kind: str  # "network" | "container"
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} was not removed: {self.reason}"


@dataclass(frozen=True)
class Removal:
    """What a cleanup removed, and what the engine would not let go of (with the cause)."""

    removed: int
    stuck: tuple[Leftover, ...] = ()
    found: int | None = None  # resources that matched when listed (None: not counted)

    def warnings(self) -> list[str]:
        return [str(left) for left in self.stuck]


@dataclass(frozen=True)
class HelperSpec:
    """A toolbox container a launcher runs the agent in: what it shares with the lab, what it may do."""

    member: str  # its member label, e.g. "~agent" or "~join-app"
    join: str | None = None  # share this member's network and PID namespaces
    host_namespaces: bool = False  # share the host's network and PID namespaces
    caps: tuple[str, ...] = ()


class LabHandle(Protocol):
    """The engine side of one running lab. Every method may raise `EngineError`."""

    def refresh(self) -> LabState:
        """Read the run back from the engine: members, pids, addresses, networks, published ports."""
        ...

    def start_observers(self, names: list[str]) -> LabState:
        """Start the named observers that are not running yet (`up` leaves them for first use),
        then return the refreshed state. Observers carry the run's labels."""
        ...

    def status(self, member: str) -> MemberStatus:
        """Whether `member` is still running; raises `ReadinessError` if it vanished."""
        ...

    def stopped(self) -> dict[str, MemberStatus]:
        """The members whose process no longer runs (exit code and last log line), read in one
        call to the engine however big the lab: readiness asks it on every poll."""
        ...

    def logs(self, member: str, tail: int = 50) -> str:
        """The last `tail` lines the member's process wrote (stdout and stderr); "" if none or unreadable."""
        ...

    def start_helper(self, spec: HelperSpec) -> str:
        """Start a toolbox helper for a launcher, labelled with the run (never kept); its id.
        `EngineError` says what the engine refused (a privilege, a namespace)."""
        ...

    def run_agent(self, helper: str, request: bytes, timeout_s: float) -> bytes:
        """One JSON request to the agent inside a helper; its JSON answer. The agent is started on
        the first request and kept for the helper's life, so later requests cost a round trip.
        `ProbeError` if it failed or gave no answer within `timeout_s` (the next request starts
        a fresh agent)."""
        ...

    def remove_helper(self, helper: str, *, container: bool = True) -> None:
        """End the helper's agent and remove the helper now; with `container=False` only end its
        agent, and leave the container to the lab's teardown, which removes it with the rest."""
        ...

    def network_events(self, since: float, until: float) -> list[NetworkEvent]:
        """The engine's bridge-network events between two unix times (each network marked as this
        run's or not), oldest first; [] when the engine cannot say. Never raises."""
        ...

    def teardown(self) -> Removal:
        """Remove everything carrying this run's label: members first, then networks. Never raises
        for a resource that is already gone; safe to call twice."""
        ...


@dataclass
class LiveLab:
    """A lab running on an engine: the model, what the engine made of it, and the handle to it.

    The one type for "a running lab", whether `check` started it, `up` left it, or a command
    attached to it later.
    """

    lab: Lab
    state: LabState
    handle: LabHandle
    engine: EngineInfo
    warnings: list[str] = field(default_factory=list)
    launcher: str = ""  # which launcher probes it, and why (set once one is chosen)

    def ensure_observers(self, wanted: list[str], observer_names: list[str]) -> None:
        """Start the observers among `wanted` that this run has not started yet."""
        missing = [m for m in wanted if m in observer_names and m not in self.state.members]
        if missing:
            self.state = self.handle.start_observers(missing)


class Runtime(Protocol):
    """An engine that can run labs. Errors cross this boundary only as `LooplabError`s."""

    name: str

    def info(self) -> EngineInfo:
        """Engine kind, version and address; `EngineError` if it cannot be reached."""
        ...

    def preflight(self, lab: Lab, *, pull: bool) -> None:
        """Before anything starts: the toolbox image is ready, every image is present (pulled when
        `pull` allows), every fixed host port is free. Raises the matching `LooplabError`."""
        ...

    def start(
        self, lab: Lab, *, keep: bool, observers: bool, progress: Progress, warn: Progress | None = None
    ) -> LiveLab:
        """Create the lab's networks and members (observers too, unless `observers` is False) and
        return it running. It is not yet known to be *ready* (listeners may still be starting).
        On any failure, or a signal, nothing more is created, everything made so far is removed
        (what the engine keeps is passed to `warn`) before the error propagates.
        `keep` marks the run as left on purpose (by `up`): `gc` then spares it."""
        ...

    def attach(self, lab_name: str | None, run_id: str | None = None) -> LiveLab:
        """The lab left running by `up` with that name, or the only one; with `run_id`, that run,
        kept or not (another process started it). `LooplabError` otherwise."""
        ...

    def adopt(self, name: str, members: dict[str, str], networks: list[str], *, observers: bool) -> LiveLab:
        """Running containers something else started (`members`: service name -> container id) on
        `networks` (engine names; empty: every network they are on), as a lab called `name`.
        Observers (`@NET`, `@outside`) are started with `observers`. The teardown removes only
        what looplab added; the adopted containers and networks are left to their owner."""
        ...

    def containers_on(self, network: str) -> dict[str, str]:
        """Running containers on the engine network `network` that looplab did not make: name -> id."""
        ...

    def foreign(self, selection: Selection, warn: Progress) -> list[ForeignContainer]:
        """Read the selected containers looplab did not make (`audit`), changing nothing. A selection
        that names nothing auditable raises `LooplabError`; containers a project or `--all` holds
        that cannot be audited (stopped, host network) are left out and passed to `warn`."""
        ...

    def down(self, lab_name: str | None) -> Removal:
        """Remove labs left running by `up` (one by name, or all)."""
        ...

    def gc(self, *, spare: Callable[[dict[str, str]], bool]) -> Removal:
        """Remove every looplab-labelled resource on the engine except those `spare(labels)` keeps."""
        ...

    def build_toolbox(self, *, force: bool) -> ToolboxBuild:
        """Make sure the toolbox image exists on the engine (built locally, never pulled)."""
        ...


@dataclass(frozen=True)
class ToolboxBuild:
    tag: str
    digest: str
    built: bool
    seconds: float
    size_bytes: int
