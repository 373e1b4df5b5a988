"""SIGINT/SIGTERM become exceptions during a run, and wait politely during teardown.

Only the first signal of a run raises: a second Ctrl-C must not cut short the wait for
containers still being created, or cleanup would miss them. Later signals are recorded.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import Interrupted

_WATCHED = (signal.SIGINT, signal.SIGTERM)
_run = {"depth": 0, "raised": False}


def _raise_once(signum: int, _frame: object) -> None:
    if _run["raised"]:
        return
    _run["raised"] = True
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}", signum=signum)


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
def signals_deferred() -> Iterator[list[int]]:
    """Inside: SIGINT and SIGTERM are recorded, not raised, so cleanup runs to the end."""
    seen: list[int] = []
    old = {s: signal.signal(s, lambda signum, _f: seen.append(signum)) for s in _WATCHED}
    try:
        yield seen
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
