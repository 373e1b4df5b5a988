"""Read the `services` section of a lab file: each service, its ports, networks and health checks."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, cast

from orchestrator.labfile.listeners import (
    DEFAULT_HOST_IP,
    EVERY_INTERFACE_WARNING,
    PORT_RANGE,
    parse_host_ip,
    parse_port,
    parse_port_short,
)
from orchestrator.labfile.model import (
    Healthcheck,
    Network,
    NetworkAttachment,
    PortPublish,
    Proto,
    Service,
)
from orchestrator.labfile.reserved import DEFAULT_NETWORK, RESERVED_SERVICES
from orchestrator.labfile.yaml_lines import (
    Document,
    KeyPath,
    Reader,
    Warn,
    kind_of,
)

_SERVICE_KEYS = (
    "image", "command", "entrypoint", "environment", "networks", "network_mode", "ports",
    "expose", "cap_add", "healthcheck", "depends_on", "labels", "sysctls",
)  # fmt: skip
_SERVICE_IGNORED = (
    "restart", "container_name", "logging", "stop_grace_period", "stop_signal", "init",
    "tty", "stdin_open", "working_dir", "user",
)  # fmt: skip
UNSUPPORTED_REASONS = {
    "build": "build the image first and name it in `image`",
    "hostname": "it changes name resolution",
    "domainname": "it changes name resolution",
    "dns": "it changes name resolution",
    "dns_search": "it changes name resolution",
    "dns_opt": "it changes name resolution",
    "extra_hosts": "it changes name resolution",
    "links": "it changes name resolution",
    "external_links": "it changes name resolution",
    "volumes": "labs are network-only",
    "configs": "labs are network-only",
    "secrets": "labs are network-only",
}
_NETWORK_MODES = ("host", "none")
# An image reference as the engine parses it (distribution/reference): [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_IMAGE = re.compile(
    rf"{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_HEALTH_TEST_KINDS = ("CMD", "CMD-SHELL", "NONE")


class ServicesReader(Reader):
    """Reads `services`, checking names across services and against declared networks."""

    reasons = UNSUPPORTED_REASONS

    def __init__(self, path: str, doc: Document, warn: Warn, networks: Mapping[str, Network]) -> None:
        super().__init__(path, doc, warn)
        self.networks = networks
        self.names: tuple[str, ...] = ()

    def read(self, value: Any) -> list[Service]:
        body = self.mapping(("services",), value)
        if not body:
            self.fail(("services",), "no services defined")
        for name in body:
            self.safe_name(("services", name), name, "service")
            if name in RESERVED_SERVICES:
                self.fail(
                    ("services", name),
                    f"service name {name!r} is reserved (it names the host or the loopback in targets)",
                )
        self.names = tuple(body)
        services = [self.service(name, body[name]) for name in body]
        self._check_cycles(services)
        self._check_health_waits(services)
        return services

    def service(self, name: str, value: Any) -> Service:
        at: KeyPath = ("services", name)
        conf = self.mapping(at, value)
        self.keys(at, conf, _SERVICE_KEYS, _SERVICE_IGNORED)
        if "image" not in conf:
            self.fail(at, "missing required key 'image'")
        if "networks" in conf and "network_mode" in conf:
            self.fail(
                at + ("network_mode",),
                "`networks` and `network_mode` cannot be used together",
            )
        network_mode = self._network_mode(name, conf)
        networks = self._attachments(name, conf.get("networks"))
        if network_mode is None and not networks:
            networks = (NetworkAttachment(DEFAULT_NETWORK),)
        ports = tuple(
            self._port(at + ("ports", i), item)
            for i, item in enumerate(self.sequence(at + ("ports",), conf.get("ports")))
        )
        if ports and network_mode is not None:
            if network_mode.startswith("service:"):
                self.fail(
                    at + ("ports",),
                    f"ports cannot be published with network_mode {network_mode!r}",
                )
            self.warn(
                at + ("ports",),
                f"ignored with network_mode {network_mode!r} (no ports are published)",
            )
            ports = ()
        ports = tuple(self._every_interface(at + ("ports", i), pub) for i, pub in enumerate(ports))
        return Service(
            name=name,
            image=self._image(at + ("image",), conf["image"]),
            command=self.command(at + ("command",), conf.get("command")),
            entrypoint=self.command(at + ("entrypoint",), conf.get("entrypoint")),
            environment=MappingProxyType(self._pairs(at + ("environment",), conf.get("environment"), env=True)),
            networks=networks,
            network_mode=network_mode,
            ports=ports,
            expose=tuple(
                self._expose(at + ("expose", i), item)
                for i, item in enumerate(self.sequence(at + ("expose",), conf.get("expose")))
            ),
            cap_add=self.strings(at + ("cap_add",), conf.get("cap_add")),
            healthcheck=self._healthcheck(at + ("healthcheck",), conf["healthcheck"])
            if "healthcheck" in conf
            else None,
            depends_on=self._depends_on(name, conf.get("depends_on")),
            waits_for=self._waits_for(name, conf.get("depends_on")),
            labels=MappingProxyType(self._pairs(at + ("labels",), conf.get("labels"), env=False)),
            sysctls=MappingProxyType(self._sysctls(at + ("sysctls",), conf.get("sysctls"))),
            location=self.loc(at),
        )

    def _image(self, at: KeyPath, value: Any) -> str:
        """A valid image reference, written as a string (`image: 42` is a number, not a name)."""
        if not isinstance(value, str):
            self.fail(at, f"expected an image name (a string), got {kind_of(value)}")
        if not value.strip():
            self.fail(at, "the image name is empty")
        if len(value) > 255 or not _IMAGE.fullmatch(value):
            self.fail(at, f"invalid image reference {value!r} (expected e.g. looplab/toolbox or nginx:1.25)")
        return value

    def _sysctls(self, at: KeyPath, value: Any) -> dict[str, str]:
        """Only `net.*` sysctls: labs are about networking (e.g. enabling IPv6 on lo)."""
        pairs = self._pairs(at, value, env=False)
        for key in pairs:
            if not key.startswith("net."):
                self.fail(at + (key,), f"sysctl {key!r} is not supported (only net.*)")
        return pairs

    def _network_mode(self, name: str, conf: dict[str, Any]) -> str | None:
        if "network_mode" not in conf:
            return None
        at: KeyPath = ("services", name, "network_mode")
        mode = self.string(at, conf["network_mode"])
        if mode in _NETWORK_MODES:
            return mode
        if mode.startswith("service:"):
            other = mode.split(":", 1)[1]
            if other == name:
                self.fail(at, "a service cannot share its own network namespace")
            if other not in self.names:
                self.fail(at, f"unknown service {other!r} in network_mode {mode!r}")
            return mode
        hint = " (use service:NAME)" if mode.startswith("container:") else ""
        self.fail(
            at,
            f"network_mode {mode!r} is not supported (host, none or service:NAME){hint}",
        )

    def _attachments(self, name: str, value: Any) -> tuple[NetworkAttachment, ...]:
        at: KeyPath = ("services", name, "networks")
        if isinstance(value, dict):
            items = [(at + (net,), net, conf) for net, conf in value.items()]
        else:
            items = [(at + (i,), self.string(at + (i,), net), None) for i, net in enumerate(self.sequence(at, value))]
        out: dict[str, NetworkAttachment] = {}
        for where, net, conf in items:
            if net != DEFAULT_NETWORK and net not in self.networks:
                self.fail(
                    where,
                    f"network {net!r} is not declared in the top-level `networks`",
                )
            if net in out:
                self.fail(where, f"network {net!r} is listed twice")
            body = self.mapping(where, conf)
            self.keys(where, body, ("aliases",))
            out[net] = NetworkAttachment(net, self.strings(where + ("aliases",), body.get("aliases")))
        return tuple(out.values())

    def _port(self, at: KeyPath, value: Any) -> PortPublish:
        if isinstance(value, dict):
            pub = self._port_long(at, value)
        else:
            try:
                pub = parse_port_short(self.string(at, value))
            except ValueError as exc:
                self.fail(at, str(exc))
        return pub  # host_ip "" when not written: see _every_interface

    def _every_interface(self, at: KeyPath, pub: PortPublish) -> PortPublish:
        """A port without a host IP is published as Compose publishes it, on every interface, with a warning."""
        if pub.host_ip:
            return pub
        self.warn(at, EVERY_INTERFACE_WARNING)
        return replace(pub, host_ip=DEFAULT_HOST_IP)

    def _port_long(self, at: KeyPath, conf: dict[str, Any]) -> PortPublish:
        self.keys(
            at,
            conf,
            ("target", "published", "host_ip", "protocol"),
            ("mode", "name", "app_protocol"),
        )
        if "target" not in conf:
            self.fail(at, "missing key 'target'")
        values: dict[str, Any] = {}
        try:
            for key in ("target", "published"):
                if key in conf and conf[key] is not None:
                    text = self.string(at + (key,), conf[key])
                    if PORT_RANGE.search(text):
                        raise _At(key, "port ranges are not supported")
                    values[key] = _wrap(key, parse_port, text)
            host_ip = (
                _wrap(
                    "host_ip",
                    parse_host_ip,
                    self.string(at + ("host_ip",), conf["host_ip"]),
                )
                if "host_ip" in conf
                else ""
            )
            proto = self.string(at + ("protocol",), conf["protocol"]) if "protocol" in conf else "tcp"
            if proto not in ("tcp", "udp"):
                raise _At("protocol", f"protocol {proto!r} is not supported (tcp or udp)")
        except _At as exc:
            self.fail(at + (exc.key,), exc.message)
        return PortPublish(host_ip, values.get("published"), values["target"], cast(Proto, proto))

    def _expose(self, at: KeyPath, value: Any) -> int:
        text = self.string(at, value).strip()
        port_text, _, proto = text.partition("/")
        try:
            if proto and proto not in ("tcp", "udp"):
                raise ValueError(f"protocol {proto!r} is not supported (tcp or udp)")
            if PORT_RANGE.search(port_text):
                raise ValueError("port ranges are not supported")
            return parse_port(port_text)
        except ValueError as exc:
            self.fail(at, str(exc))

    def _pairs(self, at: KeyPath, value: Any, *, env: bool) -> dict[str, str]:
        """`environment` / `labels`: a mapping or a list of K=V. A bare env K takes the host's value."""
        pairs: dict[str, str | None] = {}
        if isinstance(value, dict):
            for key, item in value.items():
                pairs[key] = None if item is None else self.string(at + (key,), item)
        else:
            for i, item in enumerate(self.sequence(at, value)):
                key, sep, text = self.string(at + (i,), item).partition("=")
                pairs[key] = text if sep else None
                if not key.strip():
                    self.fail(at + (i,), f"missing name in {item!r}")
        out: dict[str, str] = {}
        for key, given in pairs.items():
            if not key.strip():
                self.fail(at + (key,), "empty name")
            if given is not None:
                out[key] = given
            elif not env:
                out[key] = ""
            elif key in os.environ:  # Compose semantics: `FOO` alone passes the caller's FOO through
                out[key] = os.environ[key]
        return out

    def _healthcheck(self, at: KeyPath, value: Any) -> Healthcheck:
        """Compose healthcheck; a string test becomes CMD-SHELL, `disable: true` becomes NONE."""
        conf = self.mapping(at, value)
        self.keys(
            at,
            conf,
            ("test", "interval", "timeout", "retries", "disable"),
            ("start_period", "start_interval"),
        )
        if "disable" in conf and self.boolean(at + ("disable",), conf["disable"]):
            return Healthcheck(test=("NONE",))
        test: tuple[str, ...] = ()
        raw = conf.get("test")
        if isinstance(raw, list):
            test = self.strings(at + ("test",), raw)
            if not test or test[0] not in _HEALTH_TEST_KINDS:
                self.fail(at + ("test",), "a test list must start with CMD, CMD-SHELL or NONE")
        elif raw is not None:
            test = ("CMD-SHELL", self.string(at + ("test",), raw))
        return Healthcheck(
            test=test,
            interval_s=self.duration(at + ("interval",), conf["interval"]) if "interval" in conf else None,
            timeout_s=self.duration(at + ("timeout",), conf["timeout"]) if "timeout" in conf else None,
            retries=self.integer(at + ("retries",), conf["retries"]) if "retries" in conf else None,
        )

    def _depends_on(self, name: str, value: Any) -> tuple[str, ...]:
        at: KeyPath = ("services", name, "depends_on")
        if isinstance(value, dict):
            items = [(at + (dep,), dep) for dep in value]
            for where, dep in items:
                conf = self.mapping(where, value[dep])
                self.keys(where, conf, ("condition",), ("restart", "required"))
                if "condition" in conf and self.string(where + ("condition",), conf["condition"]) not in _CONDITIONS:
                    self.fail(
                        where + ("condition",),
                        f"unknown condition {conf['condition']!r} (one of {', '.join(_CONDITIONS)})",
                    )
        else:
            items = [(at + (i,), self.string(at + (i,), dep)) for i, dep in enumerate(self.sequence(at, value))]
        for where, dep in items:
            if dep == name:
                self.fail(where, "a service cannot depend on itself")
            if dep not in self.names:
                self.fail(where, f"unknown service {dep!r}")
        return tuple(dict.fromkeys(dep for _, dep in items))

    def _waits_for(self, name: str, value: Any) -> tuple[tuple[str, str], ...]:
        """The long form's conditions beyond a start (already validated by `_depends_on`)."""
        if not isinstance(value, dict):
            return ()
        conditions = ((dep, (conf or {}).get("condition", "service_started")) for dep, conf in value.items())
        return tuple((dep, cond) for dep, cond in conditions if cond != "service_started")

    def _check_health_waits(self, services: list[Service]) -> None:
        """`condition: service_healthy` needs a healthcheck on the dependency (Compose refuses it too)."""
        by_name = {s.name: s for s in services}
        for svc in services:
            for dep, cond in svc.waits_for:
                if cond == "service_healthy" and by_name[dep].healthcheck is None:
                    self.fail(
                        ("services", svc.name, "depends_on", dep, "condition"),
                        f"{dep} has no healthcheck, so it can never become healthy (add services.{dep}.healthcheck)",
                    )

    def _check_cycles(self, services: list[Service]) -> None:
        """Reject cycles in depends_on and network_mode: service:X (the lab could never start)."""
        edges = {
            s.name: set(s.depends_on) | ({s.shares_namespace_with} if s.shares_namespace_with else set())
            for s in services
        }
        done: set[str] = set()

        def visit(node: str, trail: tuple[str, ...]) -> None:
            if node in trail:
                cycle = " -> ".join(trail[trail.index(node) :] + (node,))
                self.fail(("services", node), f"dependency cycle: {cycle}")
            if node in done:
                return
            for nxt in sorted(edges[node]):
                visit(nxt, trail + (node,))
            done.add(node)

        for svc in services:
            visit(svc.name, ())


class _At(Exception):
    """A ValueError aimed at a sub-key (used by the long port syntax)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _wrap(key: str, parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise _At(key, str(exc)) from None
