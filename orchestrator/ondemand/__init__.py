"""Commands on a lab left running by `looplab up`: one probe, its diagnosis, a name, sockets, a scan."""

from __future__ import annotations

from .probe import ProbeAnswer, diagnose, parse_target, probe
from .resolve import ResolveAnswer, resolve
from .scan import DEFAULT_SCAN_PORTS, ScanAnswer, ScanTarget, parse_ports, resolve_scan_target, scan
from .sockets import sockets

__all__ = [
    "DEFAULT_SCAN_PORTS",
    "ProbeAnswer",
    "ResolveAnswer",
    "ScanAnswer",
    "ScanTarget",
    "diagnose",
    "parse_ports",
    "parse_target",
    "probe",
    "resolve",
    "resolve_scan_target",
    "scan",
    "sockets",
]
