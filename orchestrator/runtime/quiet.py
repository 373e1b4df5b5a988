"""Keep an engine quiet while a matrix is probed: network creation waits until probing ends.

On Docker before 28, creating a bridge network rewrites the isolation chains, and for a few
milliseconds traffic crosses bridges (docs/ARCHITECTURE.md, "One engine, several runs"). Two looplab processes on
one engine (pytest-xdist workers, parallel CI jobs on one runner) would open that window for each
other, and a probe in it sees a real, but self-inflicted, leak. So looplab processes on this
machine share a reader-writer lock per engine, a file under the temporary directory locked with
flock(2): probing holds it shared, network creation holds it exclusive.

It covers looplab processes on this machine only. Another tool that creates networks, or a
process on another machine talking to a remote engine, is not held back: a window it opens is
still seen and diagnosed (`engine-rules-rewritten`). Engines from 28 on do not open the window,
so nothing waits there. A wait is bounded: past `WAIT_S` the caller goes on unlocked, and says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeGuard

from ..domain import Engine

WAIT_S = 60.0
POLL_S = 0.01
QUIET_FROM_MAJOR = 28  # Docker 28 stopped rewriting the isolation chains on network creation


def needs_quiet(engine: Engine | None) -> TypeGuard[Engine]:
    """Whether network creation on this engine opens a window across bridges (Docker before 28)."""
    if engine is None or engine.kind != "docker":
        return False
    major = engine.version.split(".", 1)[0]
    return not major.isdigit() or int(major) < QUIET_FROM_MAJOR


def lock_path(engine: Engine) -> Path:
    """One lock file per engine endpoint, shared by every user of this machine."""
    key = hashlib.sha256((engine.address or "default").encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"looplab-engine-{key}.lock"


@contextmanager
def probing(engine: Engine | None, warn: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the engine's lock shared while probing: no looplab process here creates a network meanwhile."""
    with _held(engine, fcntl.LOCK_SH, "probing", warn):
        yield


@contextmanager
def creating_networks(engine: Engine | None, warn: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the engine's lock exclusive while creating networks: no looplab process here probes meanwhile."""
    with _held(engine, fcntl.LOCK_EX, "creating networks", warn):
        yield


@contextmanager
def _held(engine: Engine | None, mode: int, what: str, warn: Callable[[str], None] | None) -> Iterator[None]:
    if not needs_quiet(engine):
        yield
        return
    path = lock_path(engine)
    fd = _open(path)
    if fd is None:
        if warn:
            warn(f"cannot open {path}: {what} goes on without holding other looplab runs on this engine back")
        yield
        return
    try:
        if not _acquire(fd, mode, WAIT_S) and warn:
            warn(
                f"another looplab run held {path} for {WAIT_S:.0f}s: {what} goes on; an exposure seen now may be "
                "its network creation (diagnosed as engine-rules-rewritten)"
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _open(path: Path) -> int | None:
    """The lock file opened (created world-writable, so a CI user and root share it); None: not ours to open."""
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            fd = os.open(path, flags, 0o666)
        except PermissionError:
            continue
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # the umask narrowed it
        return fd
    return None


def _acquire(fd: int, mode: int, wait_s: float) -> bool:
    """Lock `fd` in `mode`, polling until `wait_s` has passed; False: not acquired in time."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
