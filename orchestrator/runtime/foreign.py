"""Containers something else started, as any runtime reads them: the records `looplab audit` works on.

A record says what the engine knows about one container looplab did not make: its image and
command, how it is networked, what it publishes and exposes, and the Compose labels that name
its project and service. Reading never changes a container (docs/ARCHITECTURE.md, "audit").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass(frozen=True)
class Selection:
    """Which containers to audit: a Compose project, containers by id or name, or every one."""

    project: str | None = None
    containers: tuple[str, ...] = ()
    everything: bool = False

    def describe(self) -> str:
        if self.project:
            return f"project {self.project}"
        if self.containers:
            return "containers " + ", ".join(self.containers)
        return "every running container"


@dataclass(frozen=True)
class ForeignNetwork:
    """One network a container is on: the engine's name, the name its Compose file used, aliases."""

    engine_name: str
    short_name: str  # the Compose file's key (`front`), or the engine name when none is known
    internal: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignPublish:
    host_ip: str
    host_port: int
    container_port: int
    proto: str


@dataclass(frozen=True)
class ForeignContainer:
    """One container looplab did not start, as the engine reports it."""

    id: str
    name: str  # the engine's name, without the leading "/"
    member: str  # its name in the audit: the Compose service (or service-N when scaled), else the name
    project: str  # its Compose project, "" when none
    network_mode: str  # "bridge" (networks below), "host", "none", "container:ID"
    image: str
    image_local_only: bool  # no registry name knows it (built here): it cannot be pulled elsewhere
    entrypoint: tuple[str, ...] | None  # set only where it differs from the image's
    command: tuple[str, ...]
    cap_add: tuple[str, ...] = ()
    networks: tuple[ForeignNetwork, ...] = ()
    published: tuple[ForeignPublish, ...] = ()
    exposed: tuple[tuple[int, str], ...] = ()  # (port, proto) the image or the run declared
    needs: tuple[str, ...] | None = None  # services it depends on or links to; None when unknown

    @property
    def declared_ports(self) -> set[tuple[int, str]]:
        """Ports the container says it serves: exposed or published."""
        return set(self.exposed) | {(p.container_port, p.proto) for p in self.published}


DEPENDS_ON_LABEL = "com.docker.compose.depends_on"  # Compose v2: "db:service_started:false,cache:…"


def compose_needs(labels: dict[str, str]) -> tuple[str, ...] | None:
    """The services a Compose service depends on or links to: from Compose v2's label, else from
    the Compose file its labels name (v1 sets no such label); None when neither can be read."""
    if DEPENDS_ON_LABEL in labels:
        return tuple(sorted({d.split(":")[0] for d in labels[DEPENDS_ON_LABEL].split(",") if d}))
    service = labels.get(SERVICE_LABEL)
    files = labels.get("com.docker.compose.project.config_files")
    if not service or not files:
        return None
    folder = Path(labels.get("com.docker.compose.project.working_dir") or ".")
    needs: set[str] = set()
    for name in files.split(","):
        try:
            doc = yaml.safe_load((folder / name.strip()).read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return None
        conf = ((doc or {}).get("services") or {}).get(service) if isinstance(doc, dict) else None
        if not isinstance(conf, dict):
            continue
        depends = conf.get("depends_on") or ()
        needs.update(str(d) for d in depends)  # a list of names, or a mapping name -> condition
        needs.update(str(link).split(":")[0] for link in conf.get("links") or ())
    return tuple(sorted(needs))
