"""Firewall rules read back from a namespace: `iptables-save -c` and `nft list ruleset` parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def firewall_entries(iptables_save: str, nft_ruleset: str) -> list[FirewallEntry]:
    """Every rule of both outputs (nft tables that iptables manages are read from iptables-save only)."""
    return parse_iptables_save(iptables_save) + parse_nft(nft_ruleset)


def parse_iptables_save(text: str) -> list[FirewallEntry]:
    """The rules of `iptables-save -c` output, with their packet counters."""
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


def parse_nft(text: str) -> list[FirewallEntry]:
    """The drop/reject/accept rules of `nft list ruleset` output outside iptables' own tables."""
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
