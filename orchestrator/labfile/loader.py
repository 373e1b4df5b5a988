"""Read a lab file (a Compose file plus `x-looplab`) into the frozen model.

Every problem raises LabFileError naming the file, the 1-based line and the key path,
e.g. `lab.yml:12: services.app.ports[0]: port 70000 is out of range (1-65535)`.
Harmless keys looplab ignores are reported through `warn` with file:line as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from orchestrator.errors import LabFileError
from orchestrator.labfile.firewall import parse_firewall_section
from orchestrator.labfile.limits import DEFAULT_LIMITS, PROBE_MAXIMA, Limits, estimated_cells, read_lab_text
from orchestrator.labfile.listeners import (
    is_ip,
    is_toolbox_image,
    is_v6_loopback,
    parse_listener_url,
    parse_port,
    serve_urls,
)
from orchestrator.labfile.model import (
    STATES,
    Expectation,
    Lab,
    Listener,
    Network,
    ProbeSettings,
    Proto,
    Service,
    State,
)
from orchestrator.labfile.reserved import DEFAULT_NETWORK, NEIGHBOUR_NETWORK, RESERVED_NETWORK
from orchestrator.labfile.services import UNSUPPORTED_REASONS, ServicesReader
from orchestrator.labfile.yaml_lines import (
    KeyPath,
    Reader,
    Warn,
    YamlLinesError,
    kind_of,
    parse_yaml,
)

_TOP_KEYS = ("name", "services", "networks", "x-looplab")
_NETWORK_KEYS = ("driver", "internal")


def load_lab(path: str | os.PathLike[str], warn: Warn | None = None, limits: Limits = DEFAULT_LIMITS) -> Lab:
    """Load and validate a lab file. Raises LabFileError (file:line: key: reason) on any problem.

    As in Compose, a published port whose host IP is omitted binds to every interface:
    `"8080:80"` means `"0.0.0.0:8080:80"`, with a warning (the README's lab-file rules).
    Only a regular file within the bounds of `labfile.limits` is read; a larger lab than
    `limits` is refused.
    """
    shown = str(path)
    text = read_lab_text(path, shown)

    def within_limits(sizes: Mapping[str, tuple[int, int]]) -> None:  # before a huge file is composed
        for key, limit in (("networks", limits.networks), ("services", limits.services)):
            line, count = sizes.get(key, (None, 0))
            if count > limit:
                raise LabFileError(_over(key, count, limit), path=shown, line=line)

    try:
        doc = parse_yaml(text, within_limits)
    except YamlLinesError as exc:
        raise LabFileError(exc.message, path=shown, line=exc.line) from None
    reader = _LabReader(shown, doc, warn or (lambda _message: None))
    reader.limits = limits
    return reader.lab(Path(path).stem)


class _LabReader(Reader):
    """Reads the whole lab: top level, networks, services, then `x-looplab`."""

    reasons = UNSUPPORTED_REASONS
    limits: Limits = DEFAULT_LIMITS

    def _within(self, at: KeyPath, what: str, count: int, limit: int) -> None:
        if count > limit:
            self.fail(at, _over(what, count, limit).split(": ", 1)[1] if at else _over(what, count, limit))

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
                reason = UNSUPPORTED_REASONS.get(key)
                self.fail(
                    (key,),
                    f"unsupported top-level key {key!r}" + (f" ({reason})" if reason else ""),
                )
        if "services" not in top:
            self.fail((), "missing top-level key 'services'")
        name = self._name(top, stem)
        declared = self.mapping(("networks",), top.get("networks"))
        self._within(("networks",), "networks", len(declared), self.limits.networks)
        if isinstance(top["services"], dict):
            self._within(("services",), "services", len(top["services"]), self.limits.services)
        networks = self._networks(declared)
        services = ServicesReader(self.path, self.doc, self._warn, networks).read(top["services"])
        on_default = [s for s in services if any(a.network == DEFAULT_NETWORK for a in s.networks)]
        if on_default and DEFAULT_NETWORK not in networks:  # Compose adds it implicitly
            networks[DEFAULT_NETWORK] = Network(DEFAULT_NETWORK, location=on_default[0].location)
        xl = self.mapping(("x-looplab",), top.get("x-looplab"))
        self.keys(("x-looplab",), xl, ("probe", "expect", "listeners", "firewall"))
        services = self._with_listeners(services, xl.get("listeners"))
        expectations = self._expectations(xl.get("expect"), services, networks)
        self._within(("networks",), "networks", len(networks), self.limits.networks)
        probe = self._probe(xl.get("probe"))
        ports = {(x.port, x.proto) for s in services for x in s.listeners}
        cells = estimated_cells(
            len(services),
            len(networks),
            len(ports),
            sum(len(s.listeners) for s in services),
            sum(len(s.ports) for s in services),
            len(expectations) + (len(services) * (len(services) + len(networks) + 2) if probe.icmp else 0),
        )
        self._within((), "cells", cells, self.limits.cells)
        return Lab(
            name=name,
            path=self.path,
            services=tuple(services),
            networks=tuple(networks.values()),
            expectations=expectations,
            probe=probe,
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
            if name in (RESERVED_NETWORK, NEIGHBOUR_NETWORK):
                self.fail(
                    at,
                    f"network name {name!r} is reserved (`@{name}` is looplab's own "
                    f"{'observer' if name == RESERVED_NETWORK else 'LAN neighbour'})",
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
        self.keys(at, conf, ("timeout", "grace", "ready_timeout", "icmp", "lan"))
        base = ProbeSettings()
        top = PROBE_MAXIMA
        return ProbeSettings(
            timeout_s=self.duration(at + ("timeout",), conf["timeout"], positive=True, maximum=top["timeout"])
            if "timeout" in conf
            else base.timeout_s,
            grace_s=self.duration(at + ("grace",), conf["grace"], maximum=top["grace"])
            if "grace" in conf
            else base.grace_s,
            ready_timeout_s=(
                self.duration(
                    at + ("ready_timeout",), conf["ready_timeout"], positive=True, maximum=top["ready_timeout"]
                )
                if "ready_timeout" in conf
                else base.ready_timeout_s
            ),
            icmp=self.boolean(at + ("icmp",), conf["icmp"]) if "icmp" in conf else False,
            lan=self.boolean(at + ("lan",), conf["lan"]) if "lan" in conf else False,
            lan_location=str(self.loc(at + ("lan",))) if "lan" in conf else "",
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

    def _state(self, here: KeyPath, entry: Mapping[str, Any], proto: str) -> str:
        state = self.string(here + ("state",), entry["state"])
        if state not in STATES:
            self.fail(here + ("state",), f"unknown state {state!r} (one of {', '.join(STATES)})")
        if (state == "reset" and proto == "udp") or (state == "open|filtered" and proto == "tcp"):
            self.fail(here + ("state",), f"state {state!r} does not apply to {proto}")
        return state

    def _reachable(self, here: KeyPath, entry: Mapping[str, Any], state: str | None) -> bool | None:
        """`reachable: true|false`; with a `state` too, the two must say the same thing."""
        if "reachable" not in entry:
            return None
        value = entry["reachable"]
        if not isinstance(value, bool):
            self.fail(here + ("reachable",), f"must be true or false, not {value!r}")
        if state is not None and (state == "open") != value:
            self.fail(
                here + ("reachable",),
                f"reachable: {str(value).lower()} contradicts state {state!r} (true means open; give one of the two)",
            )
        return value

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
            self.keys(here, entry, ("from", "to", "state", "reachable", "proto"))
            for key in ("from", "to"):
                if key not in entry:
                    self.fail(here, f"missing key {key!r}")
            if "state" not in entry and "reachable" not in entry:
                self.fail(here, "missing key 'state' (or 'reachable: true|false')")
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
            self._published_by(here + ("to",), target, proto, services)
            state = self._state(here, entry, proto) if "state" in entry else None
            reachable = self._reachable(here, entry, state)
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
                    cast(State, state) if state is not None else None,
                    cast(Proto, proto),
                    location=self.loc(here),
                    reachable=reachable,
                )
            )
        return tuple(out)

    def _published_by(self, at: KeyPath, target: str, proto: str, services: list[Service]) -> None:
        """`host:SERVICE:P` names the host port SERVICE publishes its container port P on: it must publish it."""
        head, _, port = target.rpartition(":")
        if not head.startswith("host:"):
            return
        svc = next(s for s in services if s.name == head[5:])
        if not any(p.container_port == int(port) and p.proto == proto for p in svc.ports):
            self.fail(at, f"target {target!r}: {svc.name} publishes no container port {port}/{proto} (see its ports:)")

    def _vantage(
        self,
        at: KeyPath,
        text: str,
        services: set[str],
        networks: Mapping[str, Network],
    ) -> str:
        text = text.strip()
        if text in ("host", "@outside", "@neighbour") or text in services:
            return text
        if text.startswith("@"):
            if text[1:] not in networks:
                self.fail(at, f"unknown network {text[1:]!r} in vantage {text!r}")
            return text
        self.fail(
            at,
            f"unknown service {text!r} (a vantage is host, @outside, @neighbour, @NETWORK or a service)",
        )

    def _target(self, at: KeyPath, text: str, services: set[str]) -> str:
        text = text.strip()
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            self.fail(
                at,
                f"malformed target {text!r} "
                "(expected 127.0.0.1:P, [::1]:P, localhost:P, SERVICE:P, host:P or host:SERVICE:P)",
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
        if host.startswith("host:"):  # host:SERVICE:P, the port SERVICE publishes P on (README)
            if host[5:] not in services:
                self.fail(at, f"unknown service {host[5:]!r} in target {text!r}")
            return f"{host}:{port}"
        if is_ip(host):
            self.fail(
                at,
                f"target {text!r}: only 127.0.0.1, [::1], host or a lab service may be dialled",
            )
        self.fail(at, f"unknown service {host!r} in target {text!r}")


def _over(what: str, count: int, limit: int) -> str:
    return f"{what}: {count} {what} is more than the limit of {limit} (raise it with --max-{what})"


def _sanitise(name: str) -> str | None:
    """Lowercase, invalid runs -> '-', trimmed: `My Lab!` -> `my-lab`. None if nothing is left."""
    out = re.sub(r"[^a-z0-9_.-]+", "-", name.strip().lower()).strip("-").lstrip("_.")
    return out or None
