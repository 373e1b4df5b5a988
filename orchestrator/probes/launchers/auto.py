"""auto: pick the launcher that really enters this lab's namespaces, by trying, in order
setns (root next to the engine), agent (a helper in the host's PID namespace), join (sidecars).

Each try runs one harmless probe (a socket inventory) in a member's namespace, or at once in
every namespace the command will enter (helpers then start in parallel); the first
launcher whose probe comes back is used, and the report says which and why. When none can,
one line names every launcher tried and why it failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...errors import Interrupted, LooplabError, ProbeError
from ...runtime.base import LiveLab
from ..protocol import ProbeSpec
from .agent import AgentLauncher
from .base import Batch, Launcher
from .join import JoinLauncher
from .setns import SetnsLauncher

_TRY_DEADLINE_S = 30.0


def candidates(live: LiveLab, caps: tuple[str, ...]) -> list[tuple[str, Callable[[], Launcher]]]:
    return [
        ("setns", SetnsLauncher),
        ("agent", lambda: AgentLauncher(live)),
        ("join", lambda: JoinLauncher(live, caps=caps)),
    ]


def choose(live: LiveLab, *, caps: tuple[str, ...] = ("NET_RAW",), enter: Sequence[str] = ()) -> tuple[Launcher, str]:
    """The first launcher that enters the namespaces `enter` names (or a member's), and why."""
    tried: list[str] = []
    for name, make in candidates(live, caps):
        launcher = make()
        try:
            return launcher, prove(name, launcher, live, enter) + (f" ({'; '.join(tried)})" if tried else "")
        except Interrupted:  # a signal is no reason to try the next launcher
            launcher.close()
            raise
        except LooplabError as exc:
            tried.append(f"{name}: {_short(str(exc))}")
            launcher.close()
    raise ProbeError(f"no launcher can enter the lab's namespaces: {'; '.join(tried)}")


def prove(name: str, launcher: Launcher, live: LiveLab, enter: Sequence[str] = ()) -> str:
    """Run one harmless probe (a socket inventory) in each namespace of `enter` (the members that
    own one; by default the first member that does), all in one batch; the reason to use this
    launcher, or `ProbeError` with why it cannot enter."""
    owners = [m.name for m in live.state.members.values() if m.namespace == m.name and m.pid > 0]
    targets = [o for o in owners if o in enter] or owners[:1]
    if not targets:  # nothing to enter: every member uses the host's namespace
        return f"{name}: the lab has no namespace of its own to enter"
    batches = [Batch(f"auto:{o}", live.state.netns(o), [ProbeSpec("auto", "sockets")]) for o in targets]
    outcomes = launcher.run(batches, deadline_s=_TRY_DEADLINE_S)
    for owner in targets:
        got = outcomes.get(f"auto:{owner}")
        if got is None or got.error or not got.results or not got.results[0].ok:
            why = (got.error or (got.results[0].detail if got.results else None)) if got else None
            raise ProbeError(why or f"no answer from {owner}'s namespace")
    if len(targets) == 1:
        return f"{name}: entered {targets[0]}'s namespace"
    return f"{name}: entered the namespaces of {', '.join(targets[:3])}" + (
        f" and {len(targets) - 3} more" if len(targets) > 3 else ""
    )


def _short(why: str, limit: int = 140) -> str:
    """A refusal, cut for a one-line reason (the engine's errors can run to hundreds of characters)."""
    return why if len(why) <= limit else why[: limit - 1] + "…"
