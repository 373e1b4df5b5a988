"""SIGINT/SIGTERM become exceptions during a run, and wait politely during teardown."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

from ..errors import Interrupted

_WATCHED = (signal.SIGINT, signal.SIGTERM)


def _raise(signum: int, _frame: object) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}", signum=signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise Interrupted in the main thread."""
    old = {s: signal.signal(s, _raise) for s in _WATCHED}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


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
