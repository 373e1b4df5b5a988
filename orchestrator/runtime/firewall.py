"""Apply `x-looplab.firewall` rules inside a namespace, and read a namespace's rules back as text.

Rules are added from the host with `nsenter --net=/proc/PID/ns/net iptables ...`, so the
service image needs no iptables. Reading back returns the raw `iptables-save -c` and
`nft list ruleset` output; diagnosis/firewall_rules.py parses it.
"""

from __future__ import annotations

import shutil
import subprocess

from ..errors import LabFileError, LooplabError
from ..labfile.model import Lab
from .state import HOST, LabState


def _nsenter(pid: int, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", *argv], capture_output=True, text=True, timeout=30, check=False
    )


def apply_firewall(lab: Lab, state: LabState) -> None:
    """Add every declared rule to its service's namespace (never to the host's own)."""
    if not lab.firewall:
        return
    if shutil.which("iptables") is None or shutil.which("nsenter") is None:
        raise LooplabError("x-looplab.firewall needs iptables and nsenter on the host (apt-get install iptables)")
    for rule in lab.firewall:
        namespace = state.namespace_of(rule.service)
        if namespace == HOST:
            where = rule.location
            raise LabFileError(
                f"x-looplab.firewall.{rule.service}: {rule.service} uses the host's network; "
                "looplab will not change the host's firewall",
                path=where.path if where else None,
                line=where.line if where else None,
            )
        done = _nsenter(state.members[namespace].pid, ["iptables", "-w", "-A", *rule.iptables_args()])
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise LooplabError(f"{rule.location}: cannot add firewall rule to {rule.service}: {reason}")


def read_firewall_text(pid: int) -> tuple[str, str]:
    """The raw rules in the namespace of `pid`: `iptables-save -c` and `nft list ruleset` output
    ("" for a tool the host lacks)."""
    saved = _nsenter(pid, ["iptables-save", "-c"]).stdout if shutil.which("iptables-save") else ""
    nft = _nsenter(pid, ["nft", "list", "ruleset"]).stdout if shutil.which("nft") else ""
    return saved, nft
