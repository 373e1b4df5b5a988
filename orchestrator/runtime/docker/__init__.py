"""The Docker SDK runtime: the only place that imports `docker` (see runtime/base.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import docker

from ...labfile.model import Lab
from .. import labels as L
from ..base import EngineInfo, LiveLab, Progress, Removal, ToolboxBuild
from ..foreign import ForeignContainer, Selection
from ..interrupts import signals_deferred
from ..state import observer_names
from .adopt import adopted_lab, containers_on
from .attach import find_run
from .engine import connect, engine_info
from .foreign import foreign_containers
from .lifecycle import LabRunner
from .preflight import check_host_ports, check_images
from .removal import remove_labelled
from .toolbox_image import ensure_toolbox, toolbox_tag


class DockerRuntime:
    """Labs as plain containers and bridge networks, created through the SDK's low-level API."""

    name = "docker"

    def __init__(self) -> None:
        self._toolbox_id: str | None = None
        self._info: EngineInfo | None = None

    @cached_property
    def client(self) -> docker.DockerClient:
        return connect()

    def info(self) -> EngineInfo:
        if self._info is None:
            self._info = engine_info(self.client)
        return self._info

    def toolbox_image(self) -> str:
        """The toolbox image this process made sure of, by id: another process rebuilding the tag
        (another checkout, another version) cannot swap the agent under a running lab."""
        if self._toolbox_id is None:
            ensure_toolbox(self.client)
            self._toolbox_id = self.client.images.get(toolbox_tag()).id
        return self._toolbox_id

    def preflight(self, lab: Lab, *, pull: bool) -> None:
        # the quick refusals first: building the toolbox can take seconds
        check_host_ports(lab)
        check_images(self.client, lab, pull=pull, toolbox=False)
        self.toolbox_image()
        check_images(self.client, lab, pull=pull, toolbox=True)

    def start(
        self, lab: Lab, *, keep: bool, observers: bool, progress: Progress, warn: Progress | None = None
    ) -> LiveLab:
        runner = LabRunner(
            self.client, lab, run_id=L.new_run_id(), toolbox_image=self.toolbox_image(), keep=keep, progress=progress
        )
        runner.engine = self.info()
        try:
            state = runner.start(observers=observers)
        except BaseException:
            removal = None
            try:
                with signals_deferred():  # a signal during the removal is raised after it
                    removal = runner.teardown()
            finally:
                for message in removal.warnings() if removal else []:
                    (warn or progress)(message)  # what the engine kept: never "removed" in silence
            raise
        return LiveLab(lab, state, runner, runner.engine)

    def attach(self, lab_name: str | None, run_id: str | None = None) -> LiveLab:
        lab, run_id, ids, nets = find_run(self.client, lab_name, run_id)
        runner = LabRunner.resume(self.client, lab, run_id, ids, nets, self.toolbox_image())
        runner.engine = self.info()
        return LiveLab(lab, runner.refresh(), runner, runner.engine)

    def adopt(self, name: str, members: dict[str, str], networks: list[str], *, observers: bool) -> LiveLab:
        lab, ids, nets = adopted_lab(self.client, name, members, networks)
        runner = LabRunner.resume(self.client, lab, L.new_run_id(), ids, nets, self.toolbox_image(), keep=False)
        runner.engine = self.info()
        try:
            state = runner.start_observers(observer_names(lab)) if observers else runner.refresh()
        except BaseException:
            with signals_deferred():
                runner.teardown()
            raise
        return LiveLab(lab, state, runner, runner.engine)

    def containers_on(self, network: str) -> dict[str, str]:
        return containers_on(self.client, network)

    def foreign(self, selection: Selection, warn: Progress) -> list[ForeignContainer]:
        return foreign_containers(self.client, selection, warn)

    def down(self, lab_name: str | None) -> Removal:
        filters = {"label": [L.MANAGED, f"{L.KEEP}=true"] + ([f"{L.LAB}={lab_name}"] if lab_name else [])}
        return remove_labelled(self.client, filters)

    def gc(self, *, spare: Callable[[dict[str, str]], bool]) -> Removal:
        return remove_labelled(self.client, L.managed_filter(), keep=spare)

    def build_toolbox(self, *, force: bool) -> ToolboxBuild:
        return ensure_toolbox(self.client, force=force)


__all__ = ["DockerRuntime"]
