"""Probe kind ``resolve``: a name from the vantage's /etc/hosts, else (asked) Docker's DNS.

Safety: the only DNS server ever asked is Docker's embedded one, 127.0.0.11, inside the
vantage's own namespace, and only when its resolv.conf names it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

from .core import ProbeFailed, Vantage, probe
from .net import errname, spec_number

DOCKER_DNS = "127.0.0.11"  # the only server the agent ever asks (safety: never another)


@probe("resolve", addresses=[], source="hosts", hosts=[], dns=None)
async def probe_resolve(v: Vantage, spec: dict) -> dict:
    """What a name means here: ROOT/etc/hosts first (as glibc's `files`), then, only with
    ``"dns": true`` and only when ROOT/etc/resolv.conf names it, Docker's embedded DNS at
    127.0.0.11 inside this namespace. No other server is ever asked. The caller must only
    ask for lab names: Docker forwards names it does not know to the host's resolver."""
    name = spec.get("name")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ProbeFailed(f"'name' must be a host name, got {name!r}")
    root = spec.get("root", v.root) or "/"
    if not isinstance(root, str):
        raise ProbeFailed(f"'root' must be a path, got {root!r}")
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return {"state": "ok", "addresses": [str(literal)], "source": "literal"}
    path = os.path.join(root, "etc/hosts")
    try:
        from_hosts = hosts_lookup(_read_text(path), name)  # a small local file
    except OSError as e:
        return {"state": "unresolved", "detail": f"cannot read {path}: {errname(e.errno)}"}
    if from_hosts or not spec.get("dns"):
        if not from_hosts:
            return {"state": "unresolved", "detail": f"{name!r} is not in {path}"}
        return {"state": "ok", "addresses": from_hosts, "hosts": from_hosts}
    try:
        servers = resolv_nameservers(_read_text(os.path.join(root, "etc/resolv.conf")))
    except OSError:
        servers = []
    if DOCKER_DNS not in servers:
        return {
            "state": "unresolved",
            "hosts": [],
            "detail": f"{name!r} is not in {path}, and resolv.conf names "
            f"{', '.join(servers) or 'no server'}, not Docker's {DOCKER_DNS}: not asked (looplab asks no other)",
        }
    timeout = spec_number(spec, "timeout", 1.0)
    answers = await v.loop.run_in_executor(None, dns_query, name, timeout)
    if not answers:
        return {"state": "unresolved", "hosts": [], "dns": [], "detail": f"{DOCKER_DNS} has no address for {name!r}"}
    return {"state": "ok", "addresses": answers, "source": "dns", "hosts": [], "dns": answers}


def resolv_nameservers(text: str) -> list:
    return [f[1] for f in (line.split() for line in text.splitlines()) if len(f) >= 2 and f[0] == "nameserver"]


def dns_query(name: str, timeout: float) -> list:
    """A and AAAA records for ``name`` from 127.0.0.11, asked from the calling thread's namespace."""
    out: list = []
    for qtype in (1, 28):
        qid = int.from_bytes(os.urandom(2), "big")
        question = b"".join(bytes([len(p)]) + p.encode("idna") for p in name.rstrip(".").split(".")) + b"\0"
        packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(packet, (DOCKER_DNS, 53))
                reply = sock.recv(4096)
            except OSError:
                continue
        out += [a for a in _dns_answers(reply, qid) if a not in out]
    return out


def _dns_answers(reply: bytes, qid: int) -> list:
    if len(reply) < 12:
        return []
    rid, _flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", reply)
    if rid != qid:
        return []
    pos = 12
    for _ in range(qd):
        pos = _skip_name(reply, pos) + 4
    found = []
    for _ in range(an):
        pos = _skip_name(reply, pos)
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", reply, pos)
        pos += 10
        data = reply[pos : pos + length]
        pos += length
        if rtype == 1 and length == 4:
            found.append(str(ipaddress.IPv4Address(data)))
        elif rtype == 28 and length == 16:
            found.append(str(ipaddress.IPv6Address(data)))
    return found


def _skip_name(buf: bytes, pos: int) -> int:
    while pos < len(buf):
        length = buf[pos]
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos
    return pos


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def hosts_lookup(text: str, name: str) -> list:
    """Addresses for ``name`` in hosts-file order (case-insensitive, no duplicates)."""
    wanted = name.lower().rstrip(".")
    out: list = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or wanted not in (n.lower().rstrip(".") for n in fields[1:]):
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            continue
        if address not in out:
            out.append(address)
    return out
