"""Start a lab's networks and containers in parallel, level by level, with the run's labels."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import docker
import docker.errors

from ...domain import Engine
from ...errors import EngineError, LooplabError, PortInUseError, ProbeError, ReadinessError
from ...labfile.model import Lab, Service
from .. import labels as L
from ..base import HelperSpec, MemberStatus, Removal
from ..quiet import creating_networks
from ..state import OUTSIDE, LabState, NetworkEvent, observer_names
from .agent_channel import AgentChannel
from .conditions import wait_for_dependencies
from .events import network_events
from .helpers import helper_labels, remove_helper, start_helper
from .inspect import inspect_run
from .removal import teardown_run
from .waves import run_wave

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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
    """One run of a lab on the engine (the Docker `LabHandle`): starts it, reads it back, removes it."""

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
        self.engine: Engine | None = None  # set by the runtime; recorded in every LabState
        self._stop = threading.Event()  # set when the run ends early: waits on dependencies end at once
        self._channels: dict[str, AgentChannel] = {}  # helper id -> its long-lived agent
        self._channels_lock = threading.Lock()

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
        with creating_networks(self.engine, self.progress):  # not while another looplab run probes (quiet.py)
            run_wave([partial(self._create_network, *nv) for nv in lab_nets], self._stop)
        watchers = observer_names(self.lab) if observers else []
        for depth, level in enumerate(_levels(self.lab)):
            jobs = [partial(self._start_service, s) for s in level]
            if depth == 0:
                jobs += [partial(self._start_observer, o) for o in watchers]
            self.progress(f"starting {len(jobs)} containers")
            run_wave(jobs, self._stop)  # a signal or a failure: nothing queued starts (waves.py)
        return self.refresh()

    def _create_network(self, name: str, internal: bool) -> None:
        if self._stop.is_set():
            return
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
        if self._stop.is_set():  # the run ends: make nothing more
            return
        if svc.waits_for:  # Compose's service_healthy / service_completed_successfully
            wait_for_dependencies(
                self.client, svc, self._ids, timeout_s=self.lab.probe.ready_timeout_s, stop=self._stop
            )
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
            if self._stop.is_set():  # created while the run was stopped: the teardown removes it
                return
            for att in svc.networks[1:]:
                api.connect_container_to_network(cid, self._net_names[att.network], aliases=[svc.name, *att.aliases])
            api.start(cid)
        except docker.errors.APIError as exc:
            raise _start_error(svc, exc) from exc

    @classmethod
    def resume(
        cls,
        client: docker.DockerClient,
        lab: Lab,
        run_id: str,
        ids: dict[str, str],
        net_names: dict[str, str],
        toolbox_image: str,
        *,
        keep: bool = True,
    ) -> LabRunner:
        """A handle on a run already on the engine (left by `up`, or started by another process)."""
        runner = cls(client, lab, run_id=run_id, toolbox_image=toolbox_image, keep=keep)
        runner._net_names = dict(net_names)
        runner._ids = dict(ids)
        return runner

    def start_observers(self, members: list[str]) -> LabState:
        """Start the named observers (`@NET`, `@outside`) in parallel; the run's state afterwards."""
        if OUTSIDE in members and OUTSIDE not in self._net_names:
            with creating_networks(self.engine, self.progress):
                self._create_network(OUTSIDE, False)
        run_wave([partial(self._start_observer, m) for m in members], self._stop)
        return self.refresh()

    def _start_observer(self, member: str) -> None:
        if self._stop.is_set():
            return
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
            if not self._stop.is_set():
                api.start(cid)
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot start observer {member}: {exc.explanation or exc}") from exc

    # -- read ----------------------------------------------------------------
    def refresh(self) -> LabState:
        state = inspect_run(self.client, self.lab, self.run_id, self._net_names, self._ids)
        state.engine = self.engine
        return state

    def status(self, member: str) -> MemberStatus:
        try:
            st = self.client.api.inspect_container(self._ids[member])["State"]
        except docker.errors.NotFound:
            raise ReadinessError(f"{member}: its container vanished") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect {member}: {exc.explanation or exc}") from exc
        if st.get("Status") not in ("exited", "dead"):
            return MemberStatus(running=True)
        lines = self.logs(member, tail=3).strip().splitlines()
        return MemberStatus(False, st.get("ExitCode"), lines[-1] if lines else "no output")

    def stopped(self) -> dict[str, MemberStatus]:
        try:
            gone = self.client.api.containers(
                all=True, filters={**L.run_filter(self.run_id), "status": ["exited", "dead"]}
            )
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot list the lab's containers: {exc.explanation or exc}") from exc
        out = {}
        for c in gone:
            member = (c.get("Labels") or {}).get(L.MEMBER)
            if member in self._ids and self._ids[member] == c["Id"]:
                out[member] = self.status(member)  # the exit code and last log line: only for these
        return out

    def logs(self, member: str, tail: int = 50) -> str:
        try:
            return self.client.api.logs(self._ids[member], tail=tail).decode(errors="replace")
        except (KeyError, docker.errors.APIError):
            return ""

    # -- launcher helpers ----------------------------------------------------
    def start_helper(self, spec: HelperSpec) -> str:
        wanted = replace(spec, join=self._ids[spec.join] if spec.join else None)
        labels = helper_labels(self._labels("launcher", spec.member))
        # a per-process suffix: two processes probing one lab (pytest-xdist workers) each start their own
        name = f"{self._name(spec.member)}-{secrets.token_hex(2)}"
        return start_helper(self.client, self.toolbox_image, name, labels, wanted)

    def run_agent(self, helper: str, request: bytes, timeout_s: float) -> bytes:
        with self._channels_lock:
            channel = self._channels.get(helper)
            if channel is None:
                channel = self._channels[helper] = AgentChannel(self.client, helper)
        try:
            return channel.ask(request, timeout_s)
        except ProbeError:
            self._drop_channel(helper)
            raise

    def remove_helper(self, helper: str, *, container: bool = True) -> None:
        self._drop_channel(helper)
        if container:
            remove_helper(self.client, helper)

    def _drop_channel(self, helper: str) -> None:
        with self._channels_lock:
            channel = self._channels.pop(helper, None)
        if channel is not None:
            channel.close()

    def network_events(self, since: float, until: float) -> list[NetworkEvent]:
        return network_events(self.client, since, until, set(self._net_names.values()))

    # -- stop ----------------------------------------------------------------
    def teardown(self) -> Removal:
        for helper in list(self._channels):
            self._drop_channel(helper)
        return teardown_run(self.client, self.run_id)


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
        return PortInUseError(f"{where}services.{svc.name}.ports: a host port is already in use ({text})")
    return EngineError(f"{where}cannot start service {svc.name}: {text}")  # the engine's whole cause
