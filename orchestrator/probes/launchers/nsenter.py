"""Firewall rules inside a namespace with the host's own tools: `nsenter --net=/proc/PID/ns/net iptables …`.

The service image needs no iptables. Reading covers iptables (with packet counters) and
nftables; a tool missing on the host reads as empty.
"""

from __future__ import annotations

import shutil
import subprocess

from ...errors import LooplabError
from ...runtime.state import Netns
from .base import FirewallText

_TIMEOUT_S = 30


def _run(netns: Netns, argv: list[str]) -> subprocess.CompletedProcess:
    prefix = ["nsenter", f"--net=/proc/{netns.pid}/ns/net"] if netns.pid else []
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)


def add_rule(netns: Netns, iptables_args: list[str]) -> None:
    if shutil.which("iptables") is None or shutil.which("nsenter") is None:
        raise LooplabError("firewall rules need iptables and nsenter on the host (apt-get install iptables)")
    done = _run(netns, ["iptables", "-w", "-A", *iptables_args])
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LooplabError(f"cannot add a firewall rule in {netns.owner}'s namespace: {reason}")


def read_rules(netns: Netns) -> FirewallText:
    save = _run(netns, ["iptables-save", "-c"]).stdout if shutil.which("iptables-save") else ""
    nft = _run(netns, ["nft", "list", "ruleset"]).stdout if shutil.which("nft") else ""
    return FirewallText(save, nft)
