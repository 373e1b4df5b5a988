"""Bounds on what a lab file may ask for, checked before anything starts.

A lab file is input from whoever wrote it: looplab reads only a regular file of at most
`MAX_FILE_BYTES`, nested at most `MAX_DEPTH` deep, and refuses a lab larger than its
`Limits` (services, networks, cells) unless the person raises them (`--max-services`,
`--max-networks`, `--max-cells`). Probe settings have upper bounds too (`PROBE_MAXIMA`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from orchestrator.errors import LabFileError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
# x-looplab.probe key -> its largest value in seconds: one filtered cell waits `timeout`
PROBE_MAXIMA = {"timeout": 60.0, "grace": 10.0, "ready_timeout": 600.0}


@dataclass(frozen=True)
class Limits:
    """The largest lab looplab starts; each is raised by the flag of the same name."""

    services: int = 200
    networks: int = 50
    cells: int = 50_000


DEFAULT_LIMITS = Limits()


def read_lab_text(path: str | os.PathLike[str], shown: str) -> str:
    """The file's text: a regular file only (a FIFO would block, /dev/zero never end), at most
    MAX_FILE_BYTES, UTF-8. Any other case raises LabFileError in one line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LabFileError("no such file", path=shown) from None
    except OSError as exc:
        raise LabFileError(f"cannot read: {exc.strerror or exc}", path=shown) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise LabFileError(f"cannot read: not a regular file ({_kind(mode)})", path=shown)
        data = b""
        while len(data) <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise LabFileError(f"cannot read: {exc.strerror or exc}", path=shown) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise LabFileError(f"file too large (more than {MAX_FILE_BYTES // (1024 * 1024)} MiB)", path=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=shown) from None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def estimated_cells(services: int, networks: int, ports: int, listeners: int, publishes: int, extra: int) -> int:
    """An upper bound of the matrix before the lab runs: every vantage (host, services, `@NET`,
    `@outside`) × every target (two loopbacks and localhost per port, each listener's address,
    each published port), plus `extra` (icmp cells, explicit expectations)."""
    vantages = 1 + services + networks + 1
    return vantages * (3 * ports + listeners + publishes) + extra
