"""`x-looplab.firewall`: per-service iptables rules that looplab applies to the namespace.

x-looplab:
  firewall:
    app:
      - {action: drop, proto: tcp, port: 62893, interface: lo}
      - {action: reject, port: 62894}
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.labfile.model import FirewallRule
from orchestrator.labfile.yaml_lines import KeyPath, Reader

_RULE_KEYS = ("action", "proto", "port", "chain", "interface")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def parse_firewall_section(reader: Reader, value: Any, services: set[str]) -> tuple[FirewallRule, ...]:
    at: KeyPath = ("x-looplab", "firewall")
    rules: list[FirewallRule] = []
    for service, items in reader.mapping(at, value).items():
        if service not in services:
            reader.fail(at + (service,), f"unknown service {service!r}")
        for i, item in enumerate(reader.sequence(at + (service,), items)):
            rules.append(_rule(reader, at + (service, i), service, item))
    return tuple(rules)


def _rule(reader: Reader, at: KeyPath, service: str, item: Any) -> FirewallRule:
    conf = reader.mapping(at, item)
    reader.keys(at, conf, _RULE_KEYS)
    for key in ("action", "port"):
        if key not in conf:
            reader.fail(at, f"missing required key {key!r}")
    action = reader.string(at + ("action",), conf["action"]).lower()
    if action not in ("drop", "reject"):
        reader.fail(at + ("action",), f"action {action!r}: use drop or reject")
    proto = reader.string(at + ("proto",), conf["proto"]).lower() if "proto" in conf else "tcp"
    if proto not in ("tcp", "udp"):
        reader.fail(at + ("proto",), f"proto {proto!r}: use tcp or udp")
    port = reader.integer(at + ("port",), conf["port"], minimum=1)
    if port > 65535:
        reader.fail(at + ("port",), f"port {port} is out of range (1-65535)")
    chain = reader.string(at + ("chain",), conf["chain"]).upper() if "chain" in conf else "INPUT"
    if chain not in ("INPUT", "OUTPUT"):
        reader.fail(at + ("chain",), f"chain {chain!r}: use INPUT or OUTPUT")
    interface = reader.string(at + ("interface",), conf["interface"]) if "interface" in conf else None
    if interface is not None and not _INTERFACE.match(interface):
        reader.fail(at + ("interface",), f"interface {interface!r} is not a valid interface name")
    return FirewallRule(service, action, proto, port, chain, interface, reader.loc(at))  # type: ignore[arg-type]
