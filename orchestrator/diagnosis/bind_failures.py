"""The log lines in which a process says it could not bind its listening socket."""

from __future__ import annotations

IN_USE = ("Address already in use", "address already in use", "EADDRINUSE")
NOT_AVAILABLE = ("Cannot assign requested address",)
MARKERS = IN_USE + NOT_AVAILABLE


def bind_failures(log: str) -> list[str]:
    """The lines of `log` that report a failed bind, in order."""
    return [line for line in log.splitlines() if any(m in line for m in MARKERS)]


def in_use(line: str) -> bool:
    """True when a bind failure says the port was taken (a conflict), not that the address is missing."""
    return any(m in line for m in IN_USE)
