"""SIGINT/SIGTERM become exceptions during a run, and wait politely during teardown.

Only the first signal of a run raises: a second Ctrl-C must not cut short the wait for
containers still being created, or cleanup would miss them. A signal that lands while
cleanup runs is recorded and raised once the cleanup is done (`signals_deferred`), so the
run still exits 130/143. `hold_for_test` is the test suite's instrumentation: with
LOOPLAB_TEST_HOLD=PHASE:MARKER a run stops at PHASE, writes MARKER and waits for a condition,
so a test can land a signal exactly there.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Interrupted

_WATCHED = (signal.SIGINT, signal.SIGTERM)
_run = {"depth": 0, "raised": False}
HOLD_ENV = "LOOPLAB_TEST_HOLD"
_HOLD_LIMIT_S = 120.0


def interrupted(signum: int, *, lab_removed: bool = True) -> Interrupted:
    return Interrupted(f"interrupted by {signal.Signals(signum).name}", signum=signum, lab_removed=lab_removed)


def _raise_once(signum: int, _frame: object) -> None:
    if _run["raised"]:
        return
    _run["raised"] = True
    raise interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Inside: the first SIGINT or SIGTERM raises Interrupted in the main thread."""
    if _run["depth"] == 0:
        _run["raised"] = False
    _run["depth"] += 1
    old = {s: signal.signal(s, _raise_once) for s in _WATCHED}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _run["depth"] -= 1


@contextmanager
def signals_deferred(*, reraise: bool = True) -> Iterator[list[int]]:
    """Inside: SIGINT and SIGTERM are recorded, not raised, so cleanup runs to the end.

    When the block ends, the first recorded signal is raised as Interrupted (unless
    `reraise` is off: the caller then reads the yielded list itself).
    """
    seen: list[int] = []
    old = {s: signal.signal(s, lambda signum, _f: seen.append(signum)) for s in _WATCHED}
    try:
        yield seen
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if seen and reraise:
        _run["raised"] = True  # this run's one interruption: later signals wait for the unwinding
        raise interrupted(seen[0])


def hold_for_test(phase: str, until: Callable[[], bool] | None = None) -> None:
    """Test instrumentation, a no-op unless LOOPLAB_TEST_HOLD is `PHASE:MARKER` for this phase:
    write MARKER, then wait until `until()` is true or MARKER.go exists (at most 120 s)."""
    wanted, _, marker = os.environ.get(HOLD_ENV, "").partition(":")
    if wanted != phase or not marker:
        return
    Path(marker).write_text(f"{os.getpid()}\n")
    go = Path(f"{marker}.go")
    deadline = time.monotonic() + _HOLD_LIMIT_S
    while not ((until is not None and until()) or go.exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
