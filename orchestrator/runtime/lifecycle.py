"""Start a lab's networks and containers in parallel, and tear them down by label."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
import docker.errors

from ..errors import EngineError, ImageMissingError, LooplabError, PortInUseError
from ..labfile.model import Lab, Service
from . import labels as L
from .state import HOST, OUTSIDE, LabState, MemberState, NetworkState, Published

Progress = Callable[[str], None]
_WORKERS = 16


def _quiet(_: str) -> None:
    return None


def check_images(client: docker.DockerClient, lab: Lab, *, pull: bool) -> None:
    """Every image is present (or pulled when allowed), else ImageMissingError naming the service."""
    for image in sorted({s.image for s in lab.services}):
        try:
            client.images.get(image)
            continue
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot inspect image {image}: {exc}") from exc
        svc = next(s for s in lab.services if s.image == image)
        where = f"{svc.location}: services.{svc.name}.image" if svc.location else f"services.{svc.name}.image"
        if not pull:
            raise ImageMissingError(f"{where}: image {image!r} is not present on the engine (pulling is off)")
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            reason = str(exc).strip().splitlines()[-1][:200]
            raise ImageMissingError(
                f"{where}: image {image!r} is not present and could not be pulled: {reason}"
            ) from exc


def check_host_ports(lab: Lab) -> None:
    """A fixed host port that is already bound fails the run before anything starts."""
    for svc in lab.services:
        for pub in svc.ports:
            if pub.host_port is None:
                continue
            family = socket.AF_INET6 if ":" in pub.host_ip else socket.AF_INET
            kind = socket.SOCK_DGRAM if pub.proto == "udp" else socket.SOCK_STREAM
            with socket.socket(family, kind) as probe:
                if kind == socket.SOCK_STREAM:
                    # as docker-proxy does: connections lingering in TIME_WAIT do not hold the port
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((pub.host_ip, pub.host_port))
                except OSError as exc:
                    where = f"{svc.location}: " if svc.location else ""
                    raise PortInUseError(
                        f"{where}services.{svc.name}.ports: host port {pub.host_ip}:{pub.host_port}/{pub.proto} "
                        f"is already in use ({exc.strerror})"
                    ) from exc


def _levels(lab: Lab) -> list[list[Service]]:
    """Services grouped so that each one's namespace owner and depends_on start earlier."""
    done: set[str] = set()
    levels: list[list[Service]] = []
    pending = list(lab.services)
    while pending:
        ready = [
            s
            for s in pending
            if all(d in done for d in s.depends_on)
            and (s.shares_namespace_with is None or s.shares_namespace_with in done)
        ]
        if not ready:
            names = ", ".join(s.name for s in pending)
            raise LooplabError(f"services {names} depend on each other in a cycle (depends_on / network_mode)")
        levels.append(ready)
        done.update(s.name for s in ready)
        pending = [s for s in pending if s.name not in done]
    return levels


class LabRunner:
    """Creates one run of a lab on the engine; `teardown()` removes everything with its run label."""

    def __init__(
        self,
        client: docker.DockerClient,
        lab: Lab,
        *,
        run_id: str,
        toolbox_image: str,
        keep: bool = False,
        progress: Progress = _quiet,
    ) -> None:
        self.client = client
        self.lab = lab
        self.run_id = run_id
        self.toolbox_image = toolbox_image
        self.keep = keep
        self.progress = progress
        self._net_names: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    # -- naming --------------------------------------------------------------
    def _name(self, member: str) -> str:
        return L.resource_name(self.lab.name, self.run_id, member)

    def _labels(self, role: str, member: str) -> dict[str, str]:
        return L.labels_for(
            self.lab.name, self.run_id, role, member, keep=self.keep, lab_file=os.path.abspath(self.lab.path)
        )

    # -- start ---------------------------------------------------------------
    def start(self, *, observers: bool = True) -> LabState:
        """Networks, then services level by level; observers beside the first level, or (with
        `observers=False`) later, when a probe first needs them (`start_observers`)."""
        lab_nets = [(n.name, n.internal) for n in self.lab.networks] + ([(OUTSIDE, False)] if observers else [])
        self.progress(f"creating {len(lab_nets)} networks")
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(lambda nv: self._create_network(*nv), lab_nets))
        watchers = observer_names(self.lab) if observers else []
        levels = _levels(self.lab)
        for depth, level in enumerate(levels):
            self.progress(f"starting {len(level) + (len(watchers) if depth == 0 else 0)} containers")
            with ThreadPoolExecutor(_WORKERS) as pool:
                jobs = [pool.submit(self._start_service, s) for s in level]
                if depth == 0:
                    jobs += [pool.submit(self._start_observer, o) for o in watchers]
                for job in jobs:
                    job.result()
        return self._inspect()

    def _create_network(self, name: str, internal: bool) -> None:
        docker_name = self._name(name if name != OUTSIDE else "outside")
        try:
            self.client.networks.create(
                docker_name,
                driver="bridge",
                internal=internal,
                labels=self._labels("network", name),
                check_duplicate=True,
            )
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot create network {docker_name}: {exc.explanation or exc}") from exc
        self._net_names[name] = docker_name

    def _start_service(self, svc: Service) -> None:
        api = self.client.api
        port_bindings: dict[str, list[tuple[str, int | None]]] = {}
        for pub in svc.ports:
            port_bindings.setdefault(f"{pub.container_port}/{pub.proto}", []).append((pub.host_ip, pub.host_port))
        exposed = [(p.container_port, p.proto) for p in svc.ports] + [(p, "tcp") for p in svc.expose]
        if svc.is_host_mode:
            network_mode = "host"
        elif svc.shares_namespace_with:
            network_mode = f"container:{self._ids[svc.shares_namespace_with]}"
        elif svc.network_mode == "none":
            network_mode = "none"
        else:
            network_mode = self._net_names[svc.networks[0].network]
        host_config = api.create_host_config(
            network_mode=network_mode,
            port_bindings=port_bindings or None,
            cap_add=list(svc.cap_add) or None,
            sysctls=dict(svc.sysctls) or None,
        )
        networking = None
        if svc.networks and network_mode == self._net_names.get(svc.networks[0].network):
            first = svc.networks[0]
            networking = api.create_networking_config(
                {self._net_names[first.network]: api.create_endpoint_config(aliases=[svc.name, *first.aliases])}
            )
        kwargs = dict(
            image=svc.image,
            command=list(svc.command) if svc.command is not None else None,
            entrypoint=list(svc.entrypoint) if svc.entrypoint is not None else None,
            environment=dict(svc.environment) or None,
            name=self._name(svc.name),
            labels={**svc.labels, **self._labels("service", svc.name)},
            ports=[(p, proto) for p, proto in exposed] or None,
            host_config=host_config,
            networking_config=networking,
            detach=True,
            healthcheck=_healthcheck(svc),
        )
        try:
            cid = api.create_container(**kwargs)["Id"]
            self._ids[svc.name] = cid
            for att in svc.networks[1:]:
                api.connect_container_to_network(cid, self._net_names[att.network], aliases=[svc.name, *att.aliases])
            api.start(cid)
        except docker.errors.APIError as exc:
            raise _start_error(svc, exc) from exc

    @classmethod
    def resume(
        cls, client: docker.DockerClient, lab: Lab, state: LabState, net_names: dict[str, str], toolbox_image: str
    ) -> LabRunner:
        """A runner for a run already on the engine (left by `up`), to add observers to it."""
        runner = cls(client, lab, run_id=state.run_id, toolbox_image=toolbox_image, keep=True)
        runner._net_names = dict(net_names)
        runner._ids = {name: m.container_id for name, m in state.members.items()}
        return runner

    def start_observers(self, members: list[str]) -> LabState:
        """Start the named observers (`@NET`, `@outside`) in parallel; the run's state afterwards."""
        if OUTSIDE in members and OUTSIDE not in self._net_names:
            self._create_network(OUTSIDE, False)
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(self._start_observer, members))
        return self._inspect()

    def _start_observer(self, member: str) -> None:
        net = OUTSIDE if member == OUTSIDE else member[1:]
        api = self.client.api
        try:
            cid = api.create_container(
                image=self.toolbox_image,
                command=["idle"],
                name=self._name(member),
                labels=self._labels("observer", member),
                detach=True,
                host_config=api.create_host_config(network_mode=self._net_names[net]),
            )["Id"]
            self._ids[member] = cid
            api.start(cid)
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot start observer {member}: {exc.explanation or exc}") from exc

    def _inspect(self) -> LabState:
        return inspect_run(self.client, self.lab, self.run_id, self._net_names, self._ids)

    # -- stop ----------------------------------------------------------------
    def teardown(self) -> Removal:
        return teardown_run(self.client, self.run_id)


def inspect_run(
    client: docker.DockerClient, lab: Lab, run_id: str, net_names: dict[str, str], ids: dict[str, str]
) -> LabState:
    """Read back from the engine what a run made: pids, addresses, gateways, published ports."""
    networks: dict[str, NetworkState] = {}
    by_docker_name = {v: k for k, v in net_names.items()}
    for name, docker_name in net_names.items():
        attrs = client.api.inspect_network(docker_name)
        cfg = (attrs.get("IPAM", {}).get("Config") or [{}])[0]
        networks[name] = NetworkState(
            name, docker_name, cfg.get("Gateway", ""), cfg.get("Subnet", ""), bool(attrs.get("Internal"))
        )
    services = {s.name: s for s in lab.services}
    members: dict[str, MemberState] = {}
    published: list[Published] = []
    owners_first = sorted(lab.services, key=lambda s: s.shares_namespace_with is not None)
    for member in [*(s.name for s in owners_first), *(m for m in ids if m not in services)]:
        if member not in ids:
            continue
        attrs = client.api.inspect_container(ids[member])
        addresses = {
            by_docker_name[n]: ep.get("IPAddress", "")
            for n, ep in (attrs["NetworkSettings"].get("Networks") or {}).items()
            if n in by_docker_name and ep.get("IPAddress")
        }
        svc = services.get(member)
        if svc is not None and svc.is_host_mode:
            namespace = HOST
        elif svc is not None and svc.shares_namespace_with:
            namespace = svc.shares_namespace_with
            addresses = dict(members[namespace].addresses) if namespace in members else addresses
        else:
            namespace = member
        members[member] = MemberState(
            member,
            "service" if svc else "observer",
            ids[member],
            attrs["Name"].lstrip("/"),
            int(attrs["State"]["Pid"]),
            namespace,
            addresses,
        )
        for key, bindings in (attrs["NetworkSettings"].get("Ports") or {}).items():
            cport, proto = key.split("/")
            for b in bindings or []:
                published.append(Published(member, int(cport), proto, b["HostIp"], int(b["HostPort"])))
    return LabState(lab.name, run_id, members, networks, tuple(published))


@dataclass(frozen=True)
class Removal:
    """What a cleanup removed, and networks the engine would not let go of."""

    removed: int
    stuck: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        return [
            f"network {name} still has stale endpoints in the engine although no container uses it "
            "(a known Docker race, moby#42119); it is empty and harmless, and a daemon restart removes it"
            for name in self.stuck
        ]


def teardown_run(client: docker.DockerClient, run_id: str) -> Removal:
    """Remove every container, then every network, carrying this run's label."""
    return remove_labelled(client, L.run_filter(run_id))


def remove_labelled(client: docker.DockerClient, filters: dict, keep: Callable[[dict], bool] | None = None) -> Removal:
    """Force-remove labelled containers (in parallel), then their networks.

    Another run may remove some of them meanwhile: those simply do not count.
    """
    try:
        containers = [
            c
            for c in client.containers.list(all=True, filters=filters, ignore_removed=True)
            if not (keep and keep(c.labels))
        ]
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(_remove_container, containers))
        networks = [
            n for n in client.networks.list(filters=filters) if not (keep and keep(n.attrs.get("Labels") or {}))
        ]
        with ThreadPoolExecutor(_WORKERS) as pool:
            left = [name for name in pool.map(_remove_network, networks) if name]
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot remove the lab's resources: {exc}") from exc
    return Removal(len(containers) + len(networks) - len(left), tuple(left))


def _remove_container(container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc):
            return  # another run (or a parallel `down`) is removing it already
        raise


_ENDPOINT_RETRIES_S = (0.05, 0.1, 0.2, 0.4, 0.8)


def _remove_network(network) -> str | None:
    """Remove a network; returns its name when the engine keeps it for stale endpoints."""
    for pause in (*_ENDPOINT_RETRIES_S, None):
        try:
            network.remove()
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
        if pause is None:
            break
        _disconnect_all(network)
        time.sleep(pause)  # endpoints of a just-removed container go away asynchronously
    return network.name


def _disconnect_all(network) -> None:
    try:
        network.reload()
        for name in [c.get("Name") for c in (network.attrs.get("Containers") or {}).values()]:
            network.disconnect(name, force=True)
    except docker.errors.APIError:
        return  # the next removal attempt says whether it helped


def _healthcheck(svc: Service) -> dict | None:
    hc = svc.healthcheck
    if hc is None:
        return None
    ns = 1_000_000_000
    out: dict = {"test": list(hc.test)}
    if hc.interval_s is not None:
        out["interval"] = int(hc.interval_s * ns)
    if hc.timeout_s is not None:
        out["timeout"] = int(hc.timeout_s * ns)
    if hc.retries is not None:
        out["retries"] = hc.retries
    return out


def _start_error(svc: Service, exc: docker.errors.APIError) -> LooplabError:
    text = str(exc.explanation or exc)
    where = f"{svc.location}: " if svc.location else ""
    if "port is already allocated" in text or "address already in use" in text:
        return PortInUseError(f"{where}services.{svc.name}.ports: a host port is already in use ({text[:200]})")
    return EngineError(f"{where}cannot start service {svc.name}: {text[:300]}")


def observer_names(lab: Lab) -> list[str]:
    """`@NET` for every lab network, then `@outside`."""
    return [f"@{n.name}" for n in lab.networks] + [OUTSIDE]


def lab_members(lab: Lab) -> Iterable[str]:
    """Every vantage a lab has: host, services, one observer per network, @outside."""
    yield HOST
    yield from (s.name for s in lab.services)
    yield from (f"@{n.name}" for n in lab.networks)
    yield OUTSIDE
