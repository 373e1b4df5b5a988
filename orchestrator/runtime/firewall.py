"""Apply `x-looplab.firewall` rules inside a namespace, and read a namespace's rules back.

Rules are added from the host with `nsenter --net=/proc/PID/ns/net iptables ...`, so the
service image needs no iptables. Reading back covers iptables (with packet counters) and
nftables tables that iptables does not manage.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import LabFileError, LooplabError
from ..labfile.model import Lab
from .state import HOST, LabState

_XTABLES = {"filter", "nat", "mangle", "raw", "security"}
_SAVE_RULE = re.compile(r"^\[(?P<pkts>\d+):(?P<bytes>\d+)\]\s+(?P<spec>-A\s+(?P<chain>\S+)\s.*)$")
_NFT_COUNTER = re.compile(r"counter packets (\d+) bytes (\d+)")
_DPORT = re.compile(r"dport (\d+)")


@dataclass(frozen=True)
class FirewallEntry:
    """One rule found in a namespace: where, what it says, and how often it matched."""

    tool: str  # "iptables" | "nftables"
    table: str
    chain: str
    spec: str  # the rule as the tool prints it
    target: str  # DROP / REJECT / drop / reject / ACCEPT ...
    packets: int
    dport: int | None
    proto: str | None
    interface: str | None

    @property
    def drops(self) -> bool:
        return self.target.upper() == "DROP"

    @property
    def rejects(self) -> bool:
        return self.target.upper() == "REJECT"


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


def read_namespace_firewall(pid: int) -> list[FirewallEntry]:
    """Every DROP/REJECT-ish rule in the namespace of `pid`, with counters."""
    entries: list[FirewallEntry] = []
    if shutil.which("iptables-save"):
        entries += _parse_iptables_save(_nsenter(pid, ["iptables-save", "-c"]).stdout)
    if shutil.which("nft"):
        entries += _parse_nft(_nsenter(pid, ["nft", "list", "ruleset"]).stdout)
    return entries


def _parse_iptables_save(text: str) -> list[FirewallEntry]:
    entries = []
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        m = _SAVE_RULE.match(line.strip())
        if not m:
            continue
        spec = m.group("spec")
        words = spec.split()
        entries.append(
            FirewallEntry(
                "iptables",
                table,
                m.group("chain"),
                spec,
                _after(words, "-j") or "",
                int(m.group("pkts")),
                int(p) if (p := _after(words, "--dport")) and p.isdigit() else None,
                _after(words, "-p"),
                _after(words, "-i") or _after(words, "-o"),
            )
        )
    return entries


def _parse_nft(text: str) -> list[FirewallEntry]:
    entries = []
    family = table = chain = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            _, family, table = line.rstrip("{ ").split()[:3]
            continue
        if line.startswith("chain "):
            chain = line.split()[1]
            continue
        if family in ("ip", "ip6") and table in _XTABLES:
            continue  # managed by iptables-nft: already read with its counters above
        verdict = next((w for w in ("drop", "reject", "accept") if re.search(rf"\b{w}\b", line)), None)
        if verdict is None or line.startswith(("type ", "policy ")):
            continue
        counter = _NFT_COUNTER.search(line)
        dport = _DPORT.search(line)
        proto = "udp" if "udp " in line else "tcp" if "tcp " in line else None
        iface = re.search(r'[io]ifname "?([\w.-]+)"?', line)
        entries.append(
            FirewallEntry(
                "nftables",
                f"{family} {table}",
                chain,
                line,
                verdict,
                int(counter.group(1)) if counter else 0,
                int(dport.group(1)) if dport else None,
                proto,
                iface.group(1) if iface else None,
            )
        )
    return entries


def _after(words: list[str], flag: str) -> str | None:
    try:
        return words[words.index(flag) + 1]
    except (ValueError, IndexError):
        return None
