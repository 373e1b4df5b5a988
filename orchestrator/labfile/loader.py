"""Read a lab file (a Compose file plus `x-looplab`) into the frozen model.

Every problem raises LabFileError naming the file, the 1-based line and the key path,
e.g. `lab.yml:12: services.app.ports[0]: port 70000 is out of range (1-65535)`.
Harmless keys looplab ignores are reported through `warn` with file:line as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from orchestrator.errors import LabFileError
from orchestrator.labfile.firewall import parse_firewall_section
from orchestrator.labfile.listeners import (
    DEFAULT_HOST_IP,
    is_ip,
    is_toolbox_image,
    is_v6_loopback,
    parse_host_ip,
    parse_listener_url,
    parse_port,
    parse_port_short,
    serve_urls,
)
from orchestrator.labfile.model import (
    STATES,
    Expectation,
    Healthcheck,
    Lab,
    Listener,
    Network,
    NetworkAttachment,
    PortPublish,
    ProbeSettings,
    Proto,
    Service,
    State,
)
from orchestrator.labfile.yaml_lines import (
    Document,
    KeyPath,
    Reader,
    Warn,
    YamlLinesError,
    kind_of,
    parse_yaml,
)

DEFAULT_NETWORK = "default"
RESERVED_SERVICES = ("host", "localhost")  # the host vantage / `host:P`, and `localhost:P` targets
RESERVED_NETWORK = "outside"  # `@outside` is looplab's own observer network

_TOP_KEYS = ("name", "services", "networks", "x-looplab")
_SERVICE_KEYS = (
    "image", "command", "entrypoint", "environment", "networks", "network_mode", "ports",
    "expose", "cap_add", "healthcheck", "depends_on", "labels", "sysctls",
)  # fmt: skip
_SERVICE_IGNORED = (
    "restart", "container_name", "logging", "stop_grace_period", "stop_signal", "init",
    "tty", "stdin_open", "working_dir", "user",
)  # fmt: skip
_REASONS = {
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
_NETWORK_KEYS = ("driver", "internal")
_NETWORK_MODES = ("host", "none")
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_HEALTH_TEST_KINDS = ("CMD", "CMD-SHELL", "NONE")


def load_lab(path: str | os.PathLike[str], warn: Warn | None = None) -> Lab:
    """Load and validate a lab file. Raises LabFileError (file:line: key: reason) on any problem.

    Unlike Compose, a published port whose host IP is omitted binds to 127.0.0.1, not to
    every interface (docs/ARCHITECTURE.md, Safety): `"8080:80"` means `"127.0.0.1:8080:80"`.
    """
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabFileError("no such file", path=shown) from None
    except UnicodeDecodeError as exc:
        raise LabFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=shown) from None
    except OSError as exc:
        raise LabFileError(f"cannot read: {exc.strerror or exc}", path=shown) from None
    try:
        doc = parse_yaml(text)
    except YamlLinesError as exc:
        raise LabFileError(exc.message, path=shown, line=exc.line) from None
    return _LabReader(shown, doc, warn or (lambda _message: None)).lab(Path(path).stem)


class _LabReader(Reader):
    """Reads the whole lab: top level, networks, services, then `x-looplab`."""

    reasons = _REASONS

    def lab(self, stem: str) -> Lab:
        top = self.doc.data
        if top is None:
            self.fail((), "the file is empty (expected a Compose mapping with `services`)")
        if not isinstance(top, dict):
            self.fail((), f"the top level must be a mapping, got {kind_of(top)}")
        for key in top:
            if key == "version":
                self.warn((key,), "obsolete Compose key, ignored")
            elif key not in _TOP_KEYS and not key.startswith("x-"):
                reason = _REASONS.get(key)
                self.fail(
                    (key,),
                    f"unsupported top-level key {key!r}" + (f" ({reason})" if reason else ""),
                )
        if "services" not in top:
            self.fail((), "missing top-level key 'services'")
        name = self._name(top, stem)
        networks = self._networks(self.mapping(("networks",), top.get("networks")))
        services = _ServicesReader(self.path, self.doc, self._warn, networks).read(top["services"])
        on_default = [s for s in services if any(a.network == DEFAULT_NETWORK for a in s.networks)]
        if on_default and DEFAULT_NETWORK not in networks:  # Compose adds it implicitly
            networks[DEFAULT_NETWORK] = Network(DEFAULT_NETWORK, location=on_default[0].location)
        xl = self.mapping(("x-looplab",), top.get("x-looplab"))
        self.keys(("x-looplab",), xl, ("probe", "expect", "listeners", "firewall"))
        services = self._with_listeners(services, xl.get("listeners"))
        expectations = self._expectations(xl.get("expect"), services, networks)
        return Lab(
            name=name,
            path=self.path,
            services=tuple(services),
            networks=tuple(networks.values()),
            expectations=expectations,
            probe=self._probe(xl.get("probe")),
            firewall=parse_firewall_section(self, xl.get("firewall"), {s.name for s in services}),
        )

    def _name(self, top: dict[str, Any], stem: str) -> str:
        if "name" not in top:
            name = _sanitise(stem)
            if name is None:
                self.fail(
                    (),
                    f"cannot make a lab name from the file name {stem!r}; set `name:`",
                )
            return name
        written = self.string(("name",), top["name"])
        name = _sanitise(written)
        if name is None:
            self.fail(
                ("name",),
                f"cannot make a lab name from {written!r} (use [a-z0-9][a-z0-9_.-]*)",
            )
        if name != written:
            self.warn(("name",), f"lab name {written!r} used as {name!r}")
        return name

    def _networks(self, body: dict[str, Any]) -> dict[str, Network]:
        networks: dict[str, Network] = {}
        for name, value in body.items():
            at: KeyPath = ("networks", name)
            self.safe_name(at, name, "network")
            if name == RESERVED_NETWORK:
                self.fail(
                    at,
                    f"network name {name!r} is reserved (`@outside` is looplab's own observer)",
                )
            conf = self.mapping(at, value)
            self.keys(at, conf, _NETWORK_KEYS, ("labels",))
            if "driver" in conf and self.string(at + ("driver",), conf["driver"]) != "bridge":
                self.fail(
                    at + ("driver",),
                    f"driver {conf['driver']!r} is not supported (only 'bridge')",
                )
            internal = self.boolean(at + ("internal",), conf["internal"]) if "internal" in conf else False
            networks[name] = Network(name, internal=internal, location=self.loc(at))
        return networks

    def _probe(self, value: Any) -> ProbeSettings:
        at: KeyPath = ("x-looplab", "probe")
        conf = self.mapping(at, value)
        self.keys(at, conf, ("timeout", "grace", "ready_timeout", "icmp"))
        base = ProbeSettings()
        return ProbeSettings(
            timeout_s=self.duration(at + ("timeout",), conf["timeout"], positive=True)
            if "timeout" in conf
            else base.timeout_s,
            grace_s=self.duration(at + ("grace",), conf["grace"]) if "grace" in conf else base.grace_s,
            ready_timeout_s=(
                self.duration(at + ("ready_timeout",), conf["ready_timeout"], positive=True)
                if "ready_timeout" in conf
                else base.ready_timeout_s
            ),
            icmp=self.boolean(at + ("icmp",), conf["icmp"]) if "icmp" in conf else False,
        )

    def _with_listeners(self, services: list[Service], value: Any) -> list[Service]:
        """Inferred (`looplab/toolbox` + `serve URL...`) then explicit listeners, deduplicated."""
        at: KeyPath = ("x-looplab", "listeners")
        explicit = self.mapping(at, value)
        names = {svc.name for svc in services}
        for name in explicit:
            if name not in names:
                self.fail(at + (name,), f"unknown service {name!r}")
        out = []
        for svc in services:
            found: list[Listener] = list(self._inferred(svc))
            urls = explicit.get(svc.name)
            items = [urls] if isinstance(urls, str) else self.sequence(at + (svc.name,), urls)
            for i, url in enumerate(items):
                where = at + (svc.name,) if isinstance(urls, str) else at + (svc.name, i)
                found.append(self._listener(where, svc.name, self.string(where, url)))
            out.append(replace(svc, listeners=tuple(dict.fromkeys(found))))
        return out

    def _inferred(self, svc: Service) -> Iterable[Listener]:
        if not is_toolbox_image(svc.image) or not svc.command:
            return
        at: KeyPath = ("services", svc.name, "command")
        as_list = isinstance(self.doc.data["services"][svc.name].get("command"), list)
        for index, url in serve_urls(svc.command):
            yield self._listener(at + (index,) if as_list else at, svc.name, url)

    def _listener(self, at: KeyPath, service: str, url: str) -> Listener:
        try:
            return parse_listener_url(service, url)
        except ValueError as exc:
            self.fail(at, str(exc))

    def _expectations(
        self, value: Any, services: list[Service], networks: Mapping[str, Network]
    ) -> tuple[Expectation, ...]:
        at: KeyPath = ("x-looplab", "expect")
        names = {svc.name for svc in services}
        out: list[Expectation] = []
        first_line: dict[tuple[str, str, str], int | None] = {}
        for i, item in enumerate(self.sequence(at, value)):
            here = at + (i,)
            entry = self.mapping(here, item)
            self.keys(here, entry, ("from", "to", "state", "proto"))
            for key in ("from", "to", "state"):
                if key not in entry:
                    self.fail(here, f"missing key {key!r}")
            vantage = self._vantage(
                here + ("from",),
                self.string(here + ("from",), entry["from"]),
                names,
                networks,
            )
            target = self._target(here + ("to",), self.string(here + ("to",), entry["to"]), names)
            proto = self.string(here + ("proto",), entry["proto"]) if "proto" in entry else "tcp"
            if proto not in ("tcp", "udp"):
                self.fail(
                    here + ("proto",),
                    f"protocol {proto!r} is not supported (tcp or udp)",
                )
            state = self.string(here + ("state",), entry["state"])
            if state not in STATES:
                self.fail(
                    here + ("state",),
                    f"unknown state {state!r} (one of {', '.join(STATES)})",
                )
            if (state == "reset" and proto == "udp") or (state == "open|filtered" and proto == "tcp"):
                self.fail(here + ("state",), f"state {state!r} does not apply to {proto}")
            seen = (vantage, target, proto)
            if seen in first_line:
                self.fail(
                    here,
                    f"duplicate expectation {vantage} -> {target}/{proto} (first at line {first_line[seen]})",
                )
            first_line[seen] = self.doc.line(here)
            out.append(
                Expectation(
                    vantage,
                    target,
                    cast(State, state),
                    cast(Proto, proto),
                    location=self.loc(here),
                )
            )
        return tuple(out)

    def _vantage(
        self,
        at: KeyPath,
        text: str,
        services: set[str],
        networks: Mapping[str, Network],
    ) -> str:
        text = text.strip()
        if text in ("host", "@outside") or text in services:
            return text
        if text.startswith("@"):
            if text[1:] not in networks:
                self.fail(at, f"unknown network {text[1:]!r} in vantage {text!r}")
            return text
        self.fail(
            at,
            f"unknown service {text!r} (a vantage is host, @outside, @NETWORK or a service)",
        )

    def _target(self, at: KeyPath, text: str, services: set[str]) -> str:
        text = text.strip()
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            self.fail(
                at,
                f"malformed target {text!r} (expected 127.0.0.1:P, [::1]:P, localhost:P, SERVICE:P or host:P)",
            )
        try:
            port = parse_port(port_text)
        except ValueError as exc:
            self.fail(at, f"target {text!r}: {exc}")
        if host.startswith("["):
            if host != "[::1]" and not is_v6_loopback(host[1:-1] if host.endswith("]") else ""):
                self.fail(at, f"target {text!r}: only [::1] may be dialled as an IPv6 literal")
            return f"[::1]:{port}"
        if host in ("127.0.0.1", "host", "localhost") or host in services:
            return f"{host}:{port}"
        if is_ip(host):
            self.fail(
                at,
                f"target {text!r}: only 127.0.0.1, [::1], host or a lab service may be dialled",
            )
        self.fail(at, f"unknown service {host!r} in target {text!r}")


class _ServicesReader(Reader):
    """Reads `services`, checking names across services and against declared networks."""

    reasons = _REASONS

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
        return Service(
            name=name,
            image=self.string(at + ("image",), conf["image"]),
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
            labels=MappingProxyType(self._pairs(at + ("labels",), conf.get("labels"), env=False)),
            sysctls=MappingProxyType(self._sysctls(at + ("sysctls",), conf.get("sysctls"))),
            location=self.loc(at),
        )

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
            return self._port_long(at, value)
        try:
            return parse_port_short(self.string(at, value))
        except ValueError as exc:
            self.fail(at, str(exc))

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
                    if "-" in text:
                        raise _At(key, "port ranges are not supported")
                    values[key] = _wrap(key, parse_port, text)
            host_ip = (
                _wrap(
                    "host_ip",
                    parse_host_ip,
                    self.string(at + ("host_ip",), conf["host_ip"]),
                )
                if "host_ip" in conf
                else DEFAULT_HOST_IP
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
            if "-" in port_text:
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


def _sanitise(name: str) -> str | None:
    """Lowercase, invalid runs -> '-', trimmed: `My Lab!` -> `my-lab`. None if nothing is left."""
    out = re.sub(r"[^a-z0-9_.-]+", "-", name.strip().lower()).strip("-").lstrip("_.")
    return out or None
