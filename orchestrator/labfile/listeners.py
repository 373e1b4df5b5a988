"""Addresses and ports as a lab file writes them.

Listener URLs (`tcp://127.0.0.1:62893`, `udp://0.0.0.0:53`, `http://[::]:8080`), Compose
port specs (`"127.0.0.1:8080:80/udp"`) and IP literals. A service running the toolbox's
`serve` program declares its listeners on its command line; `serve_urls` finds them there
so a lab file need not repeat them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import cast

from orchestrator.labfile.model import Listener, ListenerKind, PortPublish, Proto
from orchestrator.probes.agent import listener_schemes

SCHEMES = listener_schemes()  # the probe kinds that are also listeners: tcp, udp, http
DEFAULT_HOST_IP = "0.0.0.0"  # Compose's meaning of a published port without a host IP: every interface
EVERY_INTERFACE_WARNING = (
    "published on every host interface (Compose's default); write 127.0.0.1:HOST:CONTAINER to keep it on the host's "
    "loopback"
)
TOOLBOX_REPOSITORY = "looplab/toolbox"
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[^\]]*\]|[^/\[\]]*?)(?::(?P<port>[^:/\[\]]*))?/?")


PORT_RANGE = re.compile(r"\d\s*-")  # 8000-8010; a leading "-" is a negative port, not a range


def parse_port(text: str) -> int:
    """A port number 1..65535 from its text; ValueError with a readable reason otherwise."""
    text = text.strip()
    if re.fullmatch(r"-\d+", text):
        raise ValueError(f"port {text} is negative: port must be 1–65535")
    if not text.isdigit():
        raise ValueError(f"invalid port {text!r}")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return port


def parse_listener_url(service: str, url: str) -> Listener:
    """`tcp|udp|http://ADDRESS:PORT` -> Listener; the address must be an IP literal (IPv6 in brackets)."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise ValueError(f"malformed listener URL {url!r} (expected e.g. tcp://127.0.0.1:8080)")
    scheme = match["scheme"].lower()
    if scheme not in SCHEMES:
        raise ValueError(f"listener URL {url!r}: scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    host = match["host"]
    if match["port"] is None:
        if host.count(":") > 1:
            raise ValueError(f"listener URL {url!r}: an IPv6 address must be in brackets, e.g. tcp://[::1]:8080")
        raise ValueError(f"listener URL {url!r}: missing port")
    address = _address(url, host)
    try:
        port = parse_port(match["port"])
    except ValueError as exc:
        raise ValueError(f"listener URL {url!r}: {exc}") from None
    return Listener(service, cast(ListenerKind, scheme), address, port)


def _address(url: str, host: str) -> str:
    bracketed = host.startswith("[")
    literal = host[1:-1] if bracketed else host
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        raise ValueError(f"listener URL {url!r}: host {literal!r} is not an IP address") from None
    if bracketed != (ip.version == 6):
        hint = "an IPv6 address must be in brackets" if ip.version == 6 else "only IPv6 addresses take brackets"
        raise ValueError(f"listener URL {url!r}: {hint}")
    return str(ip)


def is_toolbox_image(image: str) -> bool:
    """True for `looplab/toolbox` with any tag or digest, or none."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name == TOOLBOX_REPOSITORY


def serve_urls(command: Sequence[str]) -> list[tuple[int, str]]:
    """(index, word) of each URL-like argument of a `serve ...` command; [] if it is not `serve`."""
    if not command or command[0] != "serve":
        return []
    return [(i, word) for i, word in enumerate(command) if i and not word.startswith("-") and "://" in word]


def parse_port_short(spec: str) -> PortPublish:
    """Compose short port syntax: P, H:C, IP:H:C, IP::C, [IPv6]:H:C, each optionally /tcp or /udp.

    As in Compose, an omitted host IP means every interface: the host_ip is "" here and the loader
    writes DEFAULT_HOST_IP with a warning; a lone `P` publishes container port P on a host port the
    engine picks.
    """
    text, _, proto = spec.strip().partition("/")
    if proto and proto not in ("tcp", "udp"):
        raise ValueError(f"protocol {proto!r} is not supported (tcp or udp)")
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(f"malformed port {spec!r} (expected [IPv6]:HOST:CONTAINER)")
        host_ip, parts = text[1:end], text[end + 2 :].split(":")
        if len(parts) != 2:
            raise ValueError(f"malformed port {spec!r} (expected [IPv6]:HOST:CONTAINER)")
        if ipaddress.ip_address(_ip_or_raise(host_ip)).version != 6:
            raise ValueError(f"only IPv6 host IPs take brackets in {spec!r}")
        host, container = parts
    else:
        parts = text.split(":")
        if len(parts) > 3:
            raise ValueError(f"malformed port {spec!r} (an IPv6 host IP must be in brackets, e.g. [::1]:8080:80)")
        if len(parts) == 3:
            host_ip = parts[0]
            if not host_ip:
                raise ValueError(f"malformed port {spec!r} (empty host IP)")
        host, container = (parts[-2], parts[-1]) if len(parts) > 1 else ("", parts[0])
    if PORT_RANGE.search(host) or PORT_RANGE.search(container):
        raise ValueError("port ranges are not supported")
    return PortPublish(
        host_ip=parse_host_ip(host_ip) if host_ip else "",
        host_port=parse_port(host) if host.strip() else None,
        container_port=parse_port(container),
        proto=cast(Proto, proto or "tcp"),
    )


def parse_host_ip(text: str) -> str:
    """An IP literal (brackets allowed) in canonical form; ValueError otherwise."""
    return str(ipaddress.ip_address(_ip_or_raise(text.strip().strip("[]"))))


def _ip_or_raise(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid host IP {text!r}") from None
    return text


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_v6_loopback(text: str) -> bool:
    """True for any spelling of ::1."""
    try:
        return ipaddress.ip_address(text) == ipaddress.IPv6Address("::1")
    except ValueError:
        return False
